import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { MergeGate } from '../../src/merge-gate/gate.js';
import { gateOptions, manualPressure, retestRequest as request } from '../support/merge-gate.js';
import { waitFor } from '../support/wait-for.js';

const log = createLogger({ level: 'silent' });
// retryMax 0: an infra verdict is final at once (exhausted), so each case runs exactly once.
const gate = () => new MergeGate(gateOptions({ mergeInfraRetryMax: 0 }), { clock: Date.now, log, pressure: manualPressure(0) });

async function verdict(command: string[], cwd = tmpdir()) {
  const g = gate();
  const run = g.enqueue(request('api', 'main', { command, cwd }));
  await g.idle();
  return g.get(run.id)!;
}

describe('infra verdicts with real processes (issue 12: none of these is a verdict on the branch)', () => {
  it('exit 127 (command not found) is infra', async () => {
    expect(await verdict(['/bin/sh', '-c', 'no-such-command-owd'])).toMatchObject({
      returncode: 127,
      outcome: 'infra',
      decision: 'exhausted',
    });
  });

  it('exit 126 (not executable) is infra', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'owd-126-'));
    writeFileSync(join(dir, 'run-tests'), '#!/bin/sh\nexit 0\n');
    chmodSync(join(dir, 'run-tests'), 0o644);
    expect(await verdict(['/bin/sh', '-c', './run-tests'], dir)).toMatchObject({ returncode: 126, outcome: 'infra' });
  });

  it('a command that does not exist is infra (the account looks it up itself: exit 127)', async () => {
    expect(await verdict(['/nonexistent/bin/pytest'])).toMatchObject({ returncode: 127, outcome: 'infra' });
  });

  it('a SIGKILL the gate did not send (as the OOM killer would) is infra; a SIGSEGV crash is other', async () => {
    expect(await verdict(['/bin/sh', '-c', 'kill -KILL $$'])).toMatchObject({ signal: 'SIGKILL', outcome: 'infra' });
    expect(await verdict(['/bin/sh', '-c', 'kill -SEGV $$'])).toMatchObject({ signal: 'SIGSEGV', outcome: 'other', decision: 'rollback' });
  });
});

describe('lock_busy names who holds the lock (issue 12), and needs more than a mention (issue 14)', () => {
  it('a flock holder of the sqlite-like file named in the output: lock_busy with the holder; once it is gone the same red output is red', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'owd-lock-'));
    const db = join(dir, 'state.db');
    writeFileSync(db, '');
    const holder = spawn('flock', [db, 'sleep', '120'], { detached: true, stdio: 'ignore' });
    try {
      const inode = statSync(db).ino;
      await waitFor('flock holds the lock', () => readFileSync('/proc/locks', 'utf8').includes(`:${inode} `));
      const red = [
        '/bin/sh',
        '-c',
        `echo "sqlite3.OperationalError: database is locked: ${db}"; echo "=== 1 failed, 12 passed ==="; exit 1`,
      ];
      const busy = await verdict(red, dir);
      expect(busy.outcome).toBe('lock_busy');
      expect(busy.lockHolders).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ pid: holder.pid, via: 'lock', cmdline: `flock ${db} sleep 120`, knownAs: null }),
        ]),
      );
      expect(busy.lockHolders!.every((h) => h.ageS >= 0)).toBe(true);
      process.kill(-holder.pid!, 'SIGKILL');
      await waitFor('the lock is free', () => !readFileSync('/proc/locks', 'utf8').includes(`:${inode} `));
      expect(await verdict(red, dir)).toMatchObject({ outcome: 'red', decision: 'rollback' });
    } finally {
      try {
        process.kill(-holder.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
});
