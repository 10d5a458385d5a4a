import { readFile, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../../config.js';
import { diskSignal, memorySignal, parseMeminfo, type DiskUsage } from './signals.js';
import type { Collector, Signal } from '../../watchdog/signal.js';

/** host_mem from `<WATCHDOG_PROC_ROOT>/meminfo`; an unreadable file throws, so the tick counts it. */
export class MemoryCollector implements Collector {
  readonly name = 'host_mem';

  constructor(private readonly config: Pick<Config, 'procRoot' | 'memCritPct' | 'locale'>) {}

  async collect(): Promise<Signal[]> {
    const path = join(this.config.procRoot, 'meminfo');
    const mem = parseMeminfo(await readFile(path, 'utf8'));
    if (mem === null) throw new Error(`${path}: MemTotal/MemAvailable missing or malformed`);
    return [memorySignal(mem, this.config.memCritPct, this.config.locale)];
  }
}

/** disk_crit per configured path via statfs; a path that cannot be checked is its own warning. */
export class DiskCollector implements Collector {
  readonly name = 'disk';

  constructor(private readonly config: Pick<Config, 'diskCritPaths' | 'diskCritPct' | 'locale'>) {}

  async collect(): Promise<Signal[]> {
    return Promise.all(
      this.config.diskCritPaths.map(async (path) => {
        const usage = await statfs(path).then(
          (s): DiskUsage | { error: string } => ({ usedBytes: (s.blocks - s.bfree) * s.bsize, availBytes: s.bavail * s.bsize }),
          (err: NodeJS.ErrnoException) => ({ error: `statfs failed: ${err.code ?? String(err)}` }),
        );
        return diskSignal(path, usage, this.config.diskCritPct, this.config.locale);
      }),
    );
  }
}
