// The floor for any Worker: swap the one credential header and hand the request to fetch, bodies
// as streams. No token check, no KV: whatever a Worker proxy does costs at least this much.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const headers = new Headers(request.headers);
    headers.set("authorization", `Bearer ${env.OPENAI_API_KEY}`);
    return fetch(env.OPENAI_UPSTREAM + url.pathname + url.search, {
      method: request.method,
      headers,
      body: request.body,
      redirect: "manual",
    });
  },
};
