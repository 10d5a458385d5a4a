import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { CgroupManager } from '../../src/runner/cgroup.js';
import { KillEnvironment } from '../../src/runner/launch.js';
import { runProcess } from '../../src/runner/run.js';
import { killRecorded, newTreeRound, recordedPids, survivors } from '../support/adversarial.js';
import { waitFor } from '../support/wait-for.js';

vi.setConfig({ testTimeout: 150_000 });

describe('the runner knows whether the command really runs inside the run cgroup', () => {
  it('a joined run: the command itself sees the run cgroup as its own', async () => {
    const report = await runProcess({ command: ['cat', '/proc/self/cgroup'], timeoutMs: 60_000, graceMs: 300, strategy: 'cgroup' });
    expect(report.strategy).toBe('cgroup');
    expect(report.degradedReason).toBeNull();
    expect(report.result.stdout).toMatch(new RegExp(`^0::/(.*/)?orch-watchdog-${process.pid}/run-\\d+$`, 'm'));
  });

  it('a failed join (unwritable procs file) changes strategy before the command starts, and the tree still dies', async () => {
    // A directory where cgroup.procs should be: no writer, root included, can join through it.
    const unwritable = mkdtempSync(join(tmpdir(), 'owd-join-'));
    mkdirSync(join(unwritable, 'cgroup.procs'));
    const killEnv = new KillEnvironment('/proc', new CgroupManager('/proc', process.pid, () => join(unwritable, 'cgroup.procs')));
    const round = newTreeRound();
    const starts = join(round.outDir, 'starts');
    const abort = new AbortController();
    try {
      const pending = runProcess({
        command: ['/bin/sh', '-c', `echo started >> ${starts}; exec "$0" "$@"`, ...round.command],
        timeoutMs: 120_000,
        graceMs: 300,
        strategy: 'cgroup',
        killEnv,
        abortSignal: abort.signal,
      });
      await waitFor('the tree to be up', () => recordedPids(round.outDir).size >= 24 && survivors(round.outDir).length >= 24, {
        timeoutMs: 120_000,
      });
      abort.abort();
      const report = await pending;
      expect(report.strategy).toBe('subreaper');
      expect(report.degradedReason).toMatch(/cgroup: join failed: cannot write .*cgroup\.procs/);
      // The command ran once, and only under the strategy that really holds it.
      expect(readFileSync(starts, 'utf8')).toBe('started\n');
      expect(survivors(round.outDir)).toEqual([]);
      expect(report.receipt.survivors).toEqual([]);
      expect(report.receipt.strategy).toBe('subreaper');
    } finally {
      killRecorded(round.outDir);
      round.cleanup();
      await killEnv.cgroups.dispose();
    }
  });
});
