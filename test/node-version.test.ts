import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

// Node 24 LTS is the supported line (README "Run"); package.json's engines floor is what the
// dependencies need (undici 8: 22.19). The README test command (scripts/test-ci.sh) installs
// Node 24 where the machine's own node is another line, and says so in this variable.

const ENGINES = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { engines: { node: string } }).engines
  .node;

const parts = (v: string) => (/(\d+)\.(\d+)/.exec(v) ?? []).slice(1, 3).map(Number) as [number, number];

describe('the Node the suite runs on', () => {
  it('is at least the engines floor, and Node 24 under the README test command (workers and the children they spawn alike)', () => {
    const [major, minor] = parts(process.versions.node);
    const [floorMajor, floorMinor] = parts(ENGINES);
    expect(ENGINES).toBe('>=22.19');
    expect(major > floorMajor || (major === floorMajor && minor >= floorMinor), `Node ${process.version} is below ${ENGINES}`).toBe(true);
    const promised = process.env.ORCH_WATCHDOG_TEST_CI_NODE;
    if (promised !== undefined) {
      expect(process.version).toMatch(new RegExp(`^v${promised}\\.`));
      expect(promised).toBe('24');
    }
  });
});
