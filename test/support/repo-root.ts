import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The checkout's root: the nearest directory above this module holding package.json and the
 * Dockerfile, so a helper finds the repository both from test/support/ (vitest) and from its
 * compiled copy under dist/bench-build/ (the bench scripts).
 */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!(existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'Dockerfile')))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no checkout (package.json + Dockerfile) above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
  return dir;
}
