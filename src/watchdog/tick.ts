import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { AlertAction } from './alert-event.js';
import type { AlertSink } from './alert-sink.js';
import type { Collector } from './collector.js';
import type { WatchdogMetrics } from './metrics.js';
import { DropLog } from './restore-entries.js';
import { AlertStates, type AlertState } from './alert-state.js';
import { FAMILIES, type Signal } from './signal.js';

export interface WatchdogOptions {
  tickS: number;
  cooldownS: number;
  /** Budget of one collector in one tick; past it the collector is abandoned for this tick. */
  collectorTimeoutMs: number;
}

export interface WatchdogDeps {
  collectors: readonly Collector[];
  sink: AlertSink;
  metrics: WatchdogMetrics;
  clock: Clock;
  log: Logger;
}

export interface TickResult {
  at: number;
  durationS: number;
  signals: Signal[];
  decisions: { action: AlertAction; key: string }[];
  /** Collectors that threw or timed out in this tick. */
  failed: string[];
}

/** A collector gets its HTTP budget plus slack, but never more than three tick intervals. */
export function collectorBudgetMs(config: { httpTimeoutS: number; tickS: number }): number {
  return Math.max(1000, Math.min(config.httpTimeoutS * 1000 + 2000, config.tickS * 3000));
}

/** String(x) itself throws for an object without a usable toString (Object.create(null)): never let that escape the guard. */
function describeThrown(value: unknown): string {
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

class CollectorTimeout extends Error {
  constructor(name: string, ms: number) {
    super(`collector ${name} did not finish within ${ms} ms`);
    this.name = 'CollectorTimeout';
  }
}

/** collect → signals → decide → dispatch. A tick never throws nor overlaps the last; a broken collector keeps its previous signals. */
export class Watchdog {
  private readonly states: AlertStates;
  private readonly lastByCollector = new Map<string, Signal[]>();
  private inFlight: Promise<TickResult> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private last: TickResult | null = null;
  private tickCount = 0;

  constructor(
    private readonly opts: WatchdogOptions,
    private readonly deps: WatchdogDeps,
  ) {
    this.states = new AlertStates(opts.cooldownS);
    // Zero series from the start, so rate() and dashboards see 0 rather than "no data".
    for (const c of deps.collectors) deps.metrics.collectorErrors.inc({ collector: c.name }, 0);
  }

  /** Runs one tick, or joins the one in flight. */
  tick(): Promise<TickResult> {
    this.inFlight ??= this.runTick().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  /** Ticks now, then WATCHDOG_TICK_S after each tick started; a slow tick delays the next. */
  start(): void {
    if (this.running) return;
    this.running = true;
    const loop = async (): Promise<void> => {
      if (!this.running) return;
      const result = await this.tick();
      if (!this.running) return;
      const waitMs = Math.max(0, this.opts.tickS * 1000 - result.durationS * 1000);
      this.timer = setTimeout(() => void loop(), waitMs);
    };
    void loop();
  }

  /** Stops ticking and lets an in-flight tick finish. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.inFlight) await this.inFlight;
  }

  lastTick(): TickResult | null {
    return this.last;
  }

  ticks(): number {
    return this.tickCount;
  }

  alertStates(): AlertState[] {
    return this.states.list();
  }

  /** The alert states, registered by the app as a StateSection: a restart neither repeats an ALERT nor forgets a RECOVERY. */
  stateSection() {
    return {
      name: 'alert-states',
      snapshot: () => this.states.snapshot(),
      restore: (data: unknown) => {
        const drops = new DropLog('alert-states', this.deps.log);
        this.states.restore(data, drops);
        drops.done();
      },
    };
  }

  private async runTick(): Promise<TickResult> {
    const { clock, log, metrics } = this.deps;
    const started = clock();
    const startedHr = performance.now();
    const failed: string[] = [];
    let signals: Signal[] = [];
    let decisions: TickResult['decisions'] = [];
    try {
      const results = await Promise.all(this.deps.collectors.map((c) => this.collectGuarded(c, started)));
      for (const [i, collector] of this.deps.collectors.entries()) {
        const result = results[i];
        if (result === undefined || result instanceof Error) {
          failed.push(collector.name);
          signals.push(...(this.lastByCollector.get(collector.name) ?? []));
        } else {
          this.lastByCollector.set(collector.name, result);
          signals.push(...result);
        }
      }
      const now = clock();
      const made = this.states.apply(signals, now, failed.length === 0);
      this.deps.sink.dispatch(made, now);
      decisions = made.map((d) => ({ action: d.action, key: d.signal.key }));
    } catch (err) {
      // Only a bug gets here: log it with its stack and keep serving the last good signals.
      log.error({ err }, 'tick failed');
      signals = this.last?.signals ?? [];
    }
    const durationS = (performance.now() - startedHr) / 1000;
    const result: TickResult = { at: clock(), durationS, signals, decisions, failed };
    this.last = result;
    this.tickCount += 1;
    metrics.tickDuration.observe(durationS);
    metrics.ticks.inc();
    metrics.lastTick.set(result.at / 1000);
    for (const family of FAMILIES) metrics.signalsActive.set({ family }, signals.filter((s) => s.active && s.family === family).length);
    return result;
  }

  private async collectGuarded(collector: Collector, now: number): Promise<Signal[] | Error> {
    const { log, metrics } = this.deps;
    const ms = this.opts.collectorTimeoutMs;
    const abort = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        abort.abort();
        reject(new CollectorTimeout(collector.name, ms));
      }, ms);
    });
    try {
      const childLog = log.child({ collector: collector.name });
      return await Promise.race([collector.collect({ abortSignal: abort.signal, deadline: Date.now() + ms, now, log: childLog }), timeout]);
    } catch (err) {
      metrics.collectorErrors.inc({ collector: collector.name });
      if (err instanceof CollectorTimeout) log.warn({ collector: collector.name }, err.message);
      else log.error({ err, collector: collector.name }, 'collector failed; keeping its previous signals');
      return err instanceof Error ? err : new Error(`collector ${collector.name} rejected with a non-Error: ${describeThrown(err)}`);
    } finally {
      clearTimeout(timer);
    }
  }
}
