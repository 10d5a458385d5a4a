import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DiskCollector, MemoryCollector } from '../../../src/sources/host/collector.js';

function procRoot(meminfo?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'owd-proc-'));
  if (meminfo !== undefined) writeFileSync(join(dir, 'meminfo'), meminfo);
  return dir;
}

describe('MemoryCollector', () => {
  it('reads meminfo under WATCHDOG_PROC_ROOT', async () => {
    const root = procRoot('MemTotal: 1000 kB\nMemAvailable: 50 kB\n');
    const [s] = await new MemoryCollector({ procRoot: root, memCritPct: 90, locale: 'en' }).collect();
    expect(s).toMatchObject({ key: 'host_mem', active: true });
  });

  it('reads the real /proc/meminfo', async () => {
    const [s] = await new MemoryCollector({ procRoot: '/proc', memCritPct: 100, locale: 'en' }).collect();
    expect(s?.detail).toMatch(/% used/);
  });

  it('an unreadable or malformed meminfo throws (the tick counts it) instead of inventing a value', async () => {
    await expect(new MemoryCollector({ procRoot: procRoot(), memCritPct: 90, locale: 'en' }).collect()).rejects.toThrow(/ENOENT/);
    await expect(new MemoryCollector({ procRoot: procRoot('junk'), memCritPct: 90, locale: 'en' }).collect()).rejects.toThrow(/malformed/);
  });
});

describe('DiskCollector', () => {
  it('checks every configured path with statfs, and reports a missing path as its own warning', async () => {
    const signals = await new DiskCollector({ diskCritPaths: ['/', '/does/not/exist'], diskCritPct: 100, locale: 'en' }).collect();
    expect(signals.map((s) => [s.key, s.active, s.severity])).toEqual([
      ['disk_crit:/', false, 'critical'],
      ['disk_crit:/does/not/exist', true, 'warning'],
    ]);
    expect(signals[1]?.detail).toMatch(/ENOENT/);
  });

  it('a low threshold makes the real root filesystem critical', async () => {
    const [s] = await new DiskCollector({ diskCritPaths: ['/'], diskCritPct: 1, locale: 'en' }).collect();
    expect(s?.active).toBe(true);
  });
});
