import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('..', import.meta.url).pathname;

// The app as the server builds it (global-setup compiled dist/), in a fresh process; prints the
// built-in modules Node loaded by then.
const BUILD_APP = `
const { buildApp } = await import('./dist/src/app.js');
const { loadConfig } = await import('./dist/src/config.js');
const { createLogger } = await import('./dist/src/logger.js');
const app = await buildApp(loadConfig({}).config, { log: createLogger({ level: 'silent' }) });
await app.ready();
await app.inject({ method: 'GET', url: '/healthz' });
console.log(JSON.stringify(process.moduleLoadList));
await app.close();
`;

describe('what the server loads at start', { timeout: 60_000 }, () => {
  // An ES import of node:http builds its ES facade, which reads the lazy WebSocket/fetch getters
  // and so loads Node's own bundled undici: ~0.75 MB of source held as a string plus its code and
  // objects in every idle server (issue 22, item 4).
  it("does not load Node's bundled undici (the default config makes no outbound HTTP call)", () => {
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', BUILD_APP], { cwd: ROOT, encoding: 'utf8' });
    const loaded = JSON.parse(out.trim().split('\n').at(-1)!) as string[];
    expect(loaded).toContain('NativeModule http'); // the probe itself works: node:http is loaded, only not its facade
    expect(loaded.filter((m) => m.includes('deps/undici'))).toEqual([]);
  });
});
