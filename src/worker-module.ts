import { existsSync } from 'node:fs';

/** The compiled worker module `name` beside the module at `fromUrl` (its `import.meta.url`). */
export function workerModule(name: string, fromUrl: string): URL {
  const url = new URL(name, fromUrl);
  // run from TypeScript sources (vitest) there is no .js beside it: the build's copy, which the test setup compiles first
  return existsSync(url) ? url : new URL(url.href.replace(/\/src\/(?!.*\/src\/)/, '/dist/src/'));
}
