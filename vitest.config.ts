import { defineConfig } from "vitest/config";

// Each test file starts its own workerd (Miniflare) and mock upstream; files run one at a time so
// the two cores of a CI machine are not oversubscribed by several workerd processes at once.
export default defineConfig({
  test: {
    include: ["tests/workerd/**/*.test.mjs", "tests/sdk/**/*.test.mjs", "tests/clients/**/*.test.mjs", "tests/browser/**/*.test.mjs"],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
