#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm ci` (prepare) or `npm run build`.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dist = (path) => fileURLToPath(new URL(`../dist/src/${path}`, import.meta.url));
const cli = dist('cli/index.js');
if (!existsSync(cli)) {
  console.error('orch-watchdog: not built yet; run `npm run build` (or `npm ci`) in the project first');
  process.exit(2);
}
// Node's compile cache before the CLI's modules load (src/compile-cache.ts): `tick` and
// `check-config` load most of the service.
(await import(dist('compile-cache.js'))).startCompileCache();
const { main } = await import(cli);
process.exitCode = await main(process.argv.slice(2));
