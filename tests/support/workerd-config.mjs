// Miniflare 5 options for the built Worker, shared by the test stack and the benchmark.
//
// Miniflare 5 (what wrangler 4.164 runs) takes each Worker as a config with an explicit module
// manifest: it no longer finds build/index.js's wasm import through module rules, and it has no
// wrapped bindings. So the manifest lists the files worker-build wrote, and a test that needs a
// different TOKENS binding (a store that fails, a store held in memory) runs the built Worker under
// a small entry module that hands it that binding instead.

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** wrangler.toml's compatibility_date, so tests and benchmark run what a deploy runs. */
export function compatibilityDate() {
  return fs.readFileSync(path.join(root, "wrangler.toml"), "utf8").match(/^compatibility_date\s*=\s*"([^"]+)"/m)[1];
}

const MODULE_TYPES = { ".js": "esm", ".mjs": "esm", ".wasm": "wasm" };

/** The manifest of a JavaScript Worker: `main` and every module beside it (worker-build's build/). */
export function manifest(main, { only = false } = {}) {
  main = path.resolve(main);
  const dir = path.dirname(main);
  const names = only ? [path.basename(main)] : fs.readdirSync(dir).filter((f) => MODULE_TYPES[path.extname(f)]);
  const modules = {};
  for (const name of names) {
    const type = MODULE_TYPES[path.extname(name)];
    const file = path.join(dir, name);
    modules[name] = { type, contents: type === "wasm" ? new Uint8Array(fs.readFileSync(file)) : fs.readFileSync(file, "utf8") };
  }
  return { mainModule: path.basename(main), modulesRoot: dir, modules };
}

/**
 * `base` with an entry module in front that constructs the Worker's default export (a
 * WorkerEntrypoint class) with TOKENS replaced by what `factorySource` (a JS function expression,
 * called once with the env) returns. Everything else the Worker exports (its Durable Object) is
 * re-exported unchanged.
 */
export function withTokens(base, factorySource) {
  const entry = "tokens-override.mjs";
  const source = `import Worker from "./${base.mainModule}";
export * from "./${base.mainModule}";
const makeTokens = ${factorySource};
let tokens;
export default class extends Worker {
  constructor(ctx, env) {
    tokens ??= makeTokens(env);
    super(ctx, { ...env, TOKENS: tokens });
  }
}`;
  return { ...base, mainModule: entry, modules: { ...base.modules, [entry]: { type: "esm", contents: source } } };
}

/** String vars and secrets as Miniflare 5 text bindings. */
export function textBindings(values) {
  return Object.fromEntries(Object.entries(values).map(([name, value]) => [name, { type: "text", value }]));
}

/** The Worker's own bindings besides vars: the TOKENS KV namespace and the LIMITER Durable Object. */
export function workerBindings(name) {
  return {
    env: {
      TOKENS: { type: "kv", id: "TOKENS" },
      LIMITER: { type: "durable-object", worker: name, exportName: "Limiter" },
    },
    exports: { Limiter: { type: "durable-object", storage: "sqlite" } },
  };
}

/** Collects workerd's output lines (console.log of the Worker, uncaught errors) into `logs`. */
export function collectLogs(logs) {
  return (log) => logs.push(`${log.message}\n`);
}
