import type { Logger } from 'pino';
import { identityKey } from '../../proc/identity.js';
import type { RunAlert } from './runs.js';
import { isReapDue } from './signals.js';
import type { StopService } from './stop-service.js';

/**
 * Opt-in (WATCHDOG_PROC_REAP_ENABLED): stops orphaned runs older than the reap age and the
 * leftovers of finished runs once they are blocking. Never a re-test inside its timeout (not
 * blocking), never a protected pid (the terminator refuses, logged once per run).
 */
export class Reaper {
  /** runs the terminator refused once: logged once, not every tick */
  private readonly refused = new Set<string>();
  /** stops from their first check to their last signal, so a tick never starts a second one */
  private readonly reaping = new Map<string, Promise<unknown>>();

  constructor(
    private readonly stops: StopService,
    private readonly reapAgeS: number,
  ) {}

  reap(units: readonly RunAlert[], log: Logger): void {
    const current = new Set(units.map((u) => identityKey(u.top)));
    for (const key of this.refused) if (!current.has(key)) this.refused.delete(key);
    for (const u of units) {
      const key = identityKey(u.top);
      if (!isReapDue(u, this.reapAgeS) || this.reaping.has(key) || this.refused.has(key)) continue;
      const run = this.stops
        .stop(u, u.lead, 'reaper')
        .then(async (answer) => {
          if (answer.ok) return answer.done;
          // the agents unlocated is a passing state (the Engine back, the container found): tried again next tick
          if (answer.code !== 'agents_unlocated') this.refused.add(key);
          log.warn({ pid: u.top.pid, code: answer.code }, `reaper skipped the run of pid ${u.top.pid}: ${answer.message}`);
          return undefined;
        })
        .catch(() => undefined) // logged where it happened
        .finally(() => this.reaping.delete(key));
      this.reaping.set(key, run);
    }
  }

  async settle(): Promise<void> {
    await Promise.allSettled([...this.reaping.values()]);
  }
}
