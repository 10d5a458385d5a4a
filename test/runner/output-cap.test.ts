import { describe, expect, it } from 'vitest';
import { runProcess } from '../../src/runner/run.js';
import { TailBuffer } from '../../src/runner/spawn.js';

describe('output is capped to the last bytes of each stream', () => {
  it('keeps everything under the cap', () => {
    const buf = new TailBuffer(10);
    buf.push(Buffer.from('abc'));
    buf.push(Buffer.from('def'));
    expect(buf.text()).toBe('abcdef');
  });

  it('keeps the tail (where the test summary is) and says how much was dropped', () => {
    const buf = new TailBuffer(8);
    for (const part of ['0123', '4567', '89ab', 'cdef']) buf.push(Buffer.from(part));
    expect(buf.text()).toBe('[orch-watchdog: first 8 bytes dropped, last 8 kept]\n89abcdef');
  });

  it('cuts inside one oversized chunk', () => {
    const buf = new TailBuffer(4);
    buf.push(Buffer.from('0123456789'));
    expect(buf.text().endsWith('\n6789')).toBe(true);
  });

  it('a chatty suite (20 MiB on stdout) cannot exhaust memory: ~1 MiB is kept, the summary line survives', async () => {
    const script = 'head -c 20971520 /dev/zero | tr "\\0" x; echo; echo "== 3 failed, 97 passed =="; echo err >&2; exit 1';
    const report = await runProcess({ command: ['/bin/sh', '-c', script], timeoutMs: 20_000, graceMs: 500 });
    expect(report.result.returncode).toBe(1);
    expect(report.result.stdout.length).toBeLessThan(1024 * 1024 + 200);
    expect(report.result.stdout.length).toBeGreaterThan(1024 * 1024 - 1);
    expect(report.result.stdout).toMatch(/^\[orch-watchdog: first \d+ bytes dropped/);
    expect(report.result.stdout.endsWith('== 3 failed, 97 passed ==\n')).toBe(true);
    expect(report.result.stderr).toBe('err\n');
  });
});
