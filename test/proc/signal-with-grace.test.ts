import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { readStat } from '../../src/proc/read-proc.js';
import { signalWithGrace, startSignalWithGrace } from '../../src/proc/signal-with-grace.js';
import { waitFor } from '../support/wait-for.js';

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

async function start(script: string): Promise<{ child: ChildProcess; id: { pid: number; startTicks: number } }> {
  // The script says "ready" once its traps are set: a signal before that would test nothing.
  const child = spawn('sh', ['-c', script], { stdio: ['ignore', 'pipe', 'ignore'] });
  children.push(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor('the shell to be ready', () => out.includes('ready') && readStat(child.pid!) !== null);
  return { child, id: { pid: child.pid!, startTicks: readStat(child.pid!)!.startTicks } };
}

const exited = (c: ChildProcess) =>
  c.exitCode !== null || c.signalCode !== null ? Promise.resolve(c.signalCode) : new Promise((r) => c.once('exit', (_code, sig) => r(sig)));

describe('signal-with-grace', () => {
  it('SIGTERM, then SIGKILL after the grace for a process that ignores SIGTERM; the receipt lists pid, comm, signal, at', async () => {
    const { child, id } = await start('trap "" TERM; echo ready; while :; do sleep 0.05; done');
    const receipt = await signalWithGrace([id], { graceMs: 300, pollMs: 20 });
    expect(await exited(child)).toBe('SIGKILL');
    expect(receipt.processes.map((p) => [p.pid, p.comm, p.signal])).toEqual([
      [id.pid, 'sh', 'SIGTERM'],
      [id.pid, 'sh', 'SIGKILL'],
    ]);
    expect(receipt.processes[1]!.at - receipt.processes[0]!.at).toBeGreaterThanOrEqual(290);
    expect(receipt.confirmedDead).toBe(true);
  });

  it('sends no SIGKILL to a process that exited on SIGTERM', async () => {
    const { child, id } = await start('echo ready; sleep 30; :');
    const started = await startSignalWithGrace([id], { graceMs: 5_000, pollMs: 20 });
    expect(started.terminated.map((p) => p.signal)).toEqual(['SIGTERM']);
    expect(await exited(child)).toBe('SIGTERM');
    const receipt = await started.done;
    expect(receipt.processes.map((p) => p.signal)).toEqual(['SIGTERM']);
  });

  // A pid reused between the scan and the signal belongs to someone else now.
  it('never signals a pid whose start time changed, nor one the check refuses', async () => {
    const { child, id } = await start('echo ready; sleep 30; :');
    const sent: number[] = [];
    const kill = (pid: number) => void sent.push(pid);
    const reused = await signalWithGrace([{ pid: id.pid, startTicks: id.startTicks - 1 }], { graceMs: 50, kill });
    expect(reused.skipped).toEqual([{ pid: id.pid, reason: 'reused' }]);
    const refused = await signalWithGrace([id], { graceMs: 50, kill, check: () => 'an agent' });
    expect(refused.skipped).toEqual([{ pid: id.pid, reason: 'an agent' }]);
    expect(sent).toEqual([]);
    expect(child.exitCode).toBeNull();
  });
});
