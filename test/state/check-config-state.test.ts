import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = new URL('../../bin/orch-watchdog.js', import.meta.url).pathname;
const checkConfig = (env: Record<string, string>) =>
  new Promise<{ status: number | null; stderr: string }>((resolve) => {
    execFile(process.execPath, [BIN, 'check-config'], { encoding: 'utf8', env: { PATH: process.env.PATH, ...env } }, (err, _out, stderr) =>
      resolve({ status: err ? ((err as { code?: number }).code ?? null) : 0, stderr }),
    );
  });

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'owd-check-state-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('orch-watchdog check-config and WATCHDOG_STATE_FILE', () => {
  it('a state file the server would refuse (a 1777 directory) is a problem, exit 1; in a 0700 directory of ours it is fine', async () => {
    await chmod(dir, 0o1777);
    const refused = await checkConfig({ WATCHDOG_STATE_FILE: join(dir, 'state.json') });
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(
      /WATCHDOG_STATE_FILE=".*state\.json": would be refused: the directory .* is writable by group or others \(mode 1777\)/,
    );
    await chmod(dir, 0o700);
    expect(await checkConfig({ WATCHDOG_STATE_FILE: join(dir, 'state.json') })).toEqual({ status: 0, stderr: '' });
  });
});
