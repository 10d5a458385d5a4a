import { rename, type FileHandle } from 'node:fs/promises';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Clock } from '../clock.js';
import type { ConfigWarning } from '../config.js';
import { METRIC_PREFIX } from '../metrics.js';
import { checkStatePath, lockStateFile, readStateFile, writeStateFile } from './state-file.js';

export interface RestoreContext {
  /** Watchdogs that held this state file before (its writer, the lock's last holder), never this one: all gone, since we hold the lock. */
  stalePids: number[];
}

/** One part of the process that survives a restart: what it saves and how it takes it back. */
export interface StateSection {
  name: string;
  snapshot(): unknown;
  /** Drops (and logs) malformed entries; throws only when the whole section is unusable (it then starts fresh). */
  restore(data: unknown, ctx: RestoreContext): void;
}

/** Another watchdog holds the state file's lock: this one must not start (src/server.ts exits 75). */
export class StateLocked extends Error {
  constructor(
    readonly path: string,
    readonly holderPid: number | null,
  ) {
    super(
      `WATCHDOG_STATE_FILE ${path} is locked by another orch-watchdog (${holderPid === null ? 'pid unknown' : `pid ${holderPid}`}); ` +
        'stop that one, or give this one its own state file',
    );
  }
}

const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** WATCHDOG_STATE_FILE. A damaged file of ours is moved aside; an untrusted path is refused (memory only, the file untouched). */
export class StateStore {
  readonly path: string;
  private readonly sections = new Map<string, StateSection>();
  private timer: NodeJS.Timeout | undefined;
  private lastWritten = '';
  private writing: Promise<boolean> = Promise.resolve(false);
  private lock: FileHandle | null = null;
  /** Why the file is not in use (refused, or not loaded yet); null once it was locked, also after close. */
  private unusedWhy: string | null = 'not loaded';
  /** The path with its directory resolved once it was checked: a symlink on the way is never followed again. */
  private filePath: string;
  private saveError: string | null = null;
  private failuresInARow = 0;
  private lastSavedAt: number | null = null;
  private readonly failures?: Counter;

  /** `intervalMs`: at most one write per interval (only when something changed), plus one on close. */
  constructor(private readonly opts: { path: string; intervalMs?: number; clock: Clock; log: Logger; registry?: Registry }) {
    this.path = this.filePath = opts.path;
    if (!opts.registry) return;
    const registers = [opts.registry];
    const health = (): ReturnType<StateStore['health']> => this.health();
    this.failures = new Counter({
      name: `${METRIC_PREFIX}state_save_failures_total`,
      help: 'Writes of WATCHDOG_STATE_FILE that failed (a full disk, a read-only mount); the next save retries.',
      registers,
    });
    new Gauge({
      name: `${METRIC_PREFIX}state_last_saved_timestamp_seconds`,
      help: 'Unix time WATCHDOG_STATE_FILE last held the current state (written, or found unchanged); 0 before the first save.',
      registers,
      collect() {
        this.set((health().lastSavedAt ?? 0) / 1000);
      },
    });
    new Gauge({
      name: `${METRIC_PREFIX}state_ok`,
      help: '1 when WATCHDOG_STATE_FILE is in use and its last save succeeded; 0 when it was refused or a save failed.',
      registers,
      collect() {
        this.set(health().ok ? 1 : 0);
      },
    });
  }

  register(section: StateSection): void {
    if (this.sections.has(section.name)) throw new Error(`state section ${section.name} registered twice`);
    this.sections.set(section.name, section);
  }

  /** /healthz `state`: `lastSavedAt` is when the file last held the current state (written, or found unchanged). */
  health(): { ok: boolean; lastSavedAt: number | null; error: string | null } {
    const error = this.unusedWhy ?? this.saveError;
    return { ok: error === null, lastSavedAt: this.lastSavedAt, error };
  }

  /** Throws only StateLocked (another watchdog runs on this file). */
  async load(): Promise<ConfigWarning[]> {
    const { path, log, clock } = this.opts;
    const verdict = checkStatePath(path);
    if (!verdict.ok) return [this.refuse(verdict.why)];
    this.filePath = verdict.path;
    const locked = await lockStateFile(`${this.filePath}.lock`);
    if (locked.kind === 'busy') throw new StateLocked(path, locked.holderPid);
    if (locked.kind === 'refused') return [this.refuse(locked.why)];
    this.lock = locked.file;
    this.unusedWhy = null;
    const read = await readStateFile(this.filePath);
    if (read.kind === 'absent') return [];
    if (read.kind === 'refused') {
      await this.unlock();
      return [this.refuse(read.why)];
    }
    if (read.kind === 'unusable') {
      // kept for a post-mortem, so the next start is clean
      const aside = `${this.filePath}.unusable-${new Date(clock()).toISOString().replace(/[:.]/g, '-')}`;
      const moved = await rename(this.filePath, aside).then(
        () => `moved aside to ${aside}`,
        () => 'could not be moved aside',
      );
      return [this.warn(`${read.why}; ${moved}; starting fresh`)];
    }
    const stalePids = [...new Set([read.pid, locked.previousPid])].filter((p): p is number => p !== null && p !== process.pid);
    const out: ConfigWarning[] = [];
    for (const [name, section] of this.sections) {
      if (!(name in read.sections)) continue;
      try {
        section.restore(read.sections[name], { stalePids });
      } catch (err) {
        out.push(this.warn(`section ${name} could not be restored (${errText(err)}); it starts fresh`));
      }
    }
    log.info({ path, sections: Object.keys(read.sections), stale_pids: stalePids }, 'state restored');
    return out;
  }

  start(): void {
    if (this.timer || !this.lock) return;
    this.timer = setInterval(() => void this.save(), this.opts.intervalMs ?? 2_000);
    this.timer.unref();
  }

  /** Writes when the content changed; one write at a time; never throws. Resolves true when the file holds the current state. */
  save(): Promise<boolean> {
    this.writing = this.writing.then(() => this.saveNow());
    return this.writing;
  }

  /** The last save, then the lock goes. Resolves false when the file does not hold the final state (memory only, or the write failed). */
  async close(): Promise<boolean> {
    clearInterval(this.timer);
    this.timer = undefined;
    const saved = await this.save();
    await this.unlock();
    return saved;
  }

  private async unlock(): Promise<void> {
    await this.lock?.close();
    this.lock = null;
  }

  private async saveNow(): Promise<boolean> {
    if (!this.lock) return false;
    const sections: Record<string, unknown> = {};
    for (const [name, section] of this.sections) {
      try {
        sections[name] = section.snapshot();
      } catch (err) {
        this.opts.log.error({ err, section: name }, 'state section snapshot failed; left out of this write');
      }
    }
    const text = JSON.stringify(sections);
    const now = this.opts.clock();
    if (text !== this.lastWritten) {
      try {
        await writeStateFile(this.filePath, sections, now);
      } catch (err) {
        // Logged when saving starts failing or the reason changes, not on every retry.
        if (errText(err) !== this.saveError)
          this.opts.log.error({ err, path: this.path }, 'state file write failed; the previous file stays; retrying with the next save');
        this.saveError = errText(err);
        this.failures?.inc();
        this.failuresInARow += 1;
        return false;
      }
      this.lastWritten = text;
    }
    if (this.failuresInARow > 0) this.opts.log.info({ path: this.path, failed_saves: this.failuresInARow }, 'state file saved again');
    this.failuresInARow = 0;
    this.saveError = null;
    this.lastSavedAt = now;
    return true;
  }

  private refuse(why: string): ConfigWarning {
    this.unusedWhy = `refused: ${why}`;
    return this.warn(`${this.unusedWhy}; nothing is restored or saved (memory only) and the file is left untouched`, 'error');
  }

  private warn(message: string, level: 'warn' | 'error' = 'warn'): ConfigWarning {
    this.opts.log[level]({ key: 'WATCHDOG_STATE_FILE', path: this.path }, `state file ${message}`);
    return { key: 'WATCHDOG_STATE_FILE', value: this.path, message };
  }
}
