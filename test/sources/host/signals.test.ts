import { describe, expect, it } from 'vitest';
import { diskSignal, diskUsedPct, memorySignal, parseMeminfo } from '../../../src/sources/host/signals.js';

const MEMINFO = `MemTotal:       24000000 kB
MemFree:          100000 kB
MemAvailable:    2000000 kB
Buffers:            1000 kB
`;

describe('host_mem', () => {
  it('parses MemTotal and MemAvailable', () => {
    expect(parseMeminfo(MEMINFO)).toEqual({ totalKb: 24_000_000, availableKb: 2_000_000 });
  });

  it.each(['', 'garbage', 'MemTotal: 100 kB\n', 'MemTotal: x kB\nMemAvailable: 1 kB\n', 'MemTotal: 0 kB\nMemAvailable: 0 kB\n'])(
    'rejects malformed meminfo %j',
    (text) => expect(parseMeminfo(text)).toBeNull(),
  );

  it('is active at or above the threshold, in English and Russian', () => {
    const mem = { totalKb: 1000, availableKb: 100 };
    expect(memorySignal(mem, 90, 'en')).toMatchObject({ key: 'host_mem', active: true, severity: 'critical' });
    expect(memorySignal(mem, 91, 'en').active).toBe(false);
    expect(memorySignal(mem, 90, 'en').detail).toMatch(/^90\.0% used/);
    expect(memorySignal(mem, 90, 'ru').title).toBe('Память хоста почти исчерпана');
  });
});

describe('disk_crit', () => {
  it('computes used % as df does (reserved blocks excluded from the denominator)', () => {
    expect(diskUsedPct({ usedBytes: 90, availBytes: 10 })).toBe(90);
    expect(diskUsedPct({ usedBytes: 0, availBytes: 0 })).toBe(0);
  });

  it('is keyed by path and active at the threshold', () => {
    const s = diskSignal('/var', { usedBytes: 95, availBytes: 5 }, 90, 'en');
    expect(s).toMatchObject({ key: 'disk_crit:/var', entity: '/var', active: true });
  });

  it('a path that cannot be checked is an active warning saying why', () => {
    const s = diskSignal('/nope', { error: 'statfs failed: ENOENT' }, 90, 'en');
    expect(s).toMatchObject({ active: true, severity: 'warning', detail: 'statfs failed: ENOENT' });
  });
});
