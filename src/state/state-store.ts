import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { ConfigWarning } from '../config.js';
import { moveAside, readStateFile, writeStateFile } from './state-file.js';

/** One part of the process that survives a restart: what it saves and how it takes it back. */
export interface StateSection {
  name: string;
  snapshot(): unknown;
  /** Gets only what this section saved; must cope with any shape (a bug or an old file) by throwing. */
  restore(data: unknown): void;
}

export interface StateStoreOptions {
  path: string;
  /** At most one write per interval (only when something changed), plus one on close. */
  intervalMs?: number;
  clock: Clock;
  log: Logger;
}

/**
 * WATCHDOG_STATE_FILE: sections register, `load` restores them once at start, then the file is
 * rewritten atomically when the content changed, at most every `intervalMs`, and on close.
 * A file that cannot be used is a warning and is moved aside: the watchdog starts fresh.
 */
export class StateStore {
  private readonly sections = new Map<string, StateSection>();
  private timer: NodeJS.Timeout | undefined;
  private lastWritten = '';
  private writing: Promise<void> = Promise.resolve();
  readonly warnings: ConfigWarning[] = [];

  constructor(private readonly opts: StateStoreOptions) {}

  get path(): string {
    return this.opts.path;
  }

  register(section: StateSection): void {
    if (this.sections.has(section.name)) throw new Error(`state section ${section.name} registered twice`);
    this.sections.set(section.name, section);
  }

  /** Restores every registered section from the file; never throws. Returns the warnings it raised. */
  async load(): Promise<ConfigWarning[]> {
    const { path, log, clock } = this.opts;
    const read = await readStateFile(path);
    if (read.kind === 'absent') return [];
    if (read.kind === 'unusable') {
      const aside = await moveAside(path, clock());
      return [this.warn(`${read.why}; ${aside ? `moved aside to ${aside}` : 'could not be moved aside'}; starting fresh`)];
    }
    const out: ConfigWarning[] = [];
    for (const [name, section] of this.sections) {
      if (!(name in read.sections)) continue;
      try {
        section.restore(read.sections[name]);
      } catch (err) {
        out.push(this.warn(`section ${name} could not be restored (${err instanceof Error ? err.message : String(err)}); it starts fresh`));
      }
    }
    log.info({ path, sections: Object.keys(read.sections) }, 'state restored');
    return out;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.save(), this.opts.intervalMs ?? 2_000);
    this.timer.unref();
  }

  /** Writes when the content changed; one write at a time; never throws (a failure is logged). */
  save(): Promise<void> {
    this.writing = this.writing.then(async () => {
      const sections: Record<string, unknown> = {};
      for (const [name, section] of this.sections) {
        try {
          sections[name] = section.snapshot();
        } catch (err) {
          this.opts.log.error({ err, section: name }, 'state section snapshot failed; left out of this write');
        }
      }
      const text = JSON.stringify(sections);
      if (text === this.lastWritten) return;
      try {
        await writeStateFile(this.opts.path, sections, this.opts.clock());
        this.lastWritten = text;
      } catch (err) {
        this.opts.log.error({ err, path: this.opts.path }, 'state file write failed; the previous file stays');
      }
    });
    return this.writing;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.save();
  }

  private warn(message: string): ConfigWarning {
    const w = { key: 'WATCHDOG_STATE_FILE', value: this.opts.path, message };
    this.warnings.push(w);
    this.opts.log.warn({ key: w.key, path: w.value }, `state file ${message}`);
    return w;
  }
}
