// Checks shared by the SDK test files: what one request looked like when it reached the mock
// provider, and how a token is revoked through the admin API.
import { expect } from "vitest";

const CREDENTIAL_SLOTS = ["authorization", "proxy-authorization", "x-api-key", "x-goog-api-key", "xi-api-key"];

/**
 * The one request the mock received went to `path`, carried the real key in the provider's own
 * slot and no other credential, and held the token nowhere (URL, any header, body).
 */
export function expectUpstream(seen, { path, slot, value, token }) {
  expect(seen.path).toBe(path);
  const credentials = Object.fromEntries(CREDENTIAL_SLOTS.filter((h) => h in seen.headers).map((h) => [h, seen.headers[h]]));
  expect(credentials).toEqual({ [slot]: value });
  expect(new URLSearchParams(seen.query).has("key")).toBe(false);
  expect(JSON.stringify(seen)).not.toContain(token);
}

/** Revokes a token the two ways an admin can: disable it, or delete it. */
export async function revoke(stack, id, how) {
  const r = how === "disable"
    ? await stack.admin("PATCH", `/admin/api/tokens/${id}`, { status: "disabled" })
    : await stack.admin("DELETE", `/admin/api/tokens/${id}`);
  expect(r.status).toBe(200);
}

/** Our messages for a revoked token, by how it was revoked. */
export const REVOKED_MESSAGE = {
  disable: "This api-proxy token has been disabled.",
  delete: "Invalid api-proxy token.",
};

/** Awaits `promise` and returns what it threw; fails the test if it resolved. */
export async function rejection(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  throw new Error("expected the SDK call to throw");
}
