import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Clock } from '../clock.js';
import { METRIC_PREFIX } from '../metrics.js';
import { AlertStates, type Decision } from './alert-state.js';
import { FAMILIES, type AlertEvent, type Collector, type Signal } from './signal.js';

export type WatchdogMetrics = ReturnType<typeof createWatchdogMetrics>;

/** The tick's own series; `registry` defaults to a private one (the CLI tick exposes nothing). */
export function createWatchdogMetrics(registry = new Registry()) {
  const opts = <L extends string = never>(name: string, help: string, ...labelNames: L[]) => ({
    name: `${METRIC_PREFIX}${name}`,
    help,
    labelNames,
    registers: [registry],
  });
  const buckets = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
  const m = {
    tickDuration: new Histogram({ ...opts('tick_duration_seconds', 'Duration of a watchdog tick (collect, decide, dispatch).'), buckets }),
    ticks: new Counter(opts('ticks_total', 'Watchdog ticks finished.')),
    lastTick: new Gauge(opts('last_tick_timestamp_seconds', 'Unix time the last tick finished; alert when it goes stale.')),
    collectorErrors: new Counter(opts('collector_errors_total', 'Collector runs that threw or timed out, by collector.', 'collector')),
    signalsActive: new Gauge(opts('signals_active', 'Active signals of the last tick, by family.', 'family')),
    alerts: new Counter(opts('alerts_total', 'Alert decisions dispatched to the notifiers, by family and action.', 'family', 'action')),
  };
  for (const family of FAMILIES) m.signalsActive.set({ family }, 0);
  return m;
}

/** The one way an alert leaves the process, for the tick and for edge alerts raised outside it (reaper, merge gate). */
export class AlertSink {
  constructor(
    /** notify's delivery (the watchdog never imports notify): never blocks and never throws, the tick hands events over and moves on. */
    private readonly outlet: { enqueue(event: AlertEvent): void },
    private readonly deps: { clock: Clock; log: Logger; metrics: Pick<WatchdogMetrics, 'alerts'>; hostname: string },
  ) {}

  dispatch(decisions: readonly Decision[], at: number): void {
    for (const { action, signal } of decisions) {
      this.deps.metrics.alerts.inc({ family: signal.family, action });
      try {
        this.outlet.enqueue({ action, signal, at, host: this.deps.hostname });
      } catch (err) {
        this.deps.log.error({ err, key: signal.key }, 'delivery rejected an alert');
      }
    }
  }

  /** An edge signal raised outside the tick (merge gate, reaper): straight to the notifiers. */
  emitEdge(signal: Signal): void {
    this.dispatch([{ action: 'ALERT', signal }], this.deps.clock());
  }
}

export interface TickResult {
  at: number;
  durationS: number;
  signals: Signal[];
  /** Collectors that threw or timed out in this tick. */
  failed: string[];
}

/** collect → signals → decide → dispatch. A tick never throws nor overlaps the last; a broken collector keeps its previous signals. */
export class Watchdog {
  readonly states: AlertStates;
  private readonly lastByCollector = new Map<string, Signal[]>();
  private inFlight: Promise<TickResult> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  lastTick: TickResult | null = null;
  ticks = 0;

  constructor(
    private readonly config: { tickS: number; cooldownS: number; httpTimeoutS: number },
    private readonly deps: { collectors: readonly Collector[]; sink: AlertSink; metrics: WatchdogMetrics; clock: Clock; log: Logger },
  ) {
    this.states = new AlertStates(config.cooldownS);
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
      const waitMs = Math.max(0, this.config.tickS * 1000 - result.durationS * 1000);
      this.timer = setTimeout(() => void loop(), waitMs);
    };
    void loop();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.inFlight) await this.inFlight;
  }

  /** The alert states, registered by the app as a StateSection: a restart neither repeats an ALERT nor forgets a RECOVERY. */
  stateSection() {
    return {
      name: 'alert-states',
      snapshot: () => this.states.snapshot(),
      restore: (data: unknown) => this.states.restore(data, this.deps.log),
    };
  }

  private async runTick(): Promise<TickResult> {
    const { clock, log, metrics, collectors } = this.deps;
    const started = clock();
    const startedHr = performance.now();
    const failed: string[] = [];
    let signals: Signal[] = [];
    try {
      const results = await Promise.all(collectors.map((c) => this.collectGuarded(c, started)));
      for (const [i, { name }] of collectors.entries()) {
        const result = results[i];
        if (result) this.lastByCollector.set(name, result);
        else failed.push(name);
        signals.push(...(result ?? this.lastByCollector.get(name) ?? []));
      }
      const now = clock();
      this.deps.sink.dispatch(this.states.apply(signals, now, failed.length === 0), now);
    } catch (err) {
      // Only a bug gets here: log it with its stack and keep serving the last good signals.
      log.error({ err }, 'tick failed');
      signals = this.lastTick?.signals ?? [];
    }
    const durationS = (performance.now() - startedHr) / 1000;
    const result: TickResult = { at: clock(), durationS, signals, failed };
    this.lastTick = result;
    this.ticks += 1;
    metrics.tickDuration.observe(durationS);
    metrics.ticks.inc();
    metrics.lastTick.set(result.at / 1000);
    for (const family of FAMILIES) metrics.signalsActive.set({ family }, signals.filter((s) => s.active && s.family === family).length);
    return result;
  }

  /** The collector's signals, or null when it threw, rejected (with anything at all) or ran out of its budget. */
  private async collectGuarded(collector: Collector, now: number): Promise<Signal[] | null> {
    const { log, metrics } = this.deps;
    const { name } = collector;
    // Its budget in this tick, past which it is abandoned: its HTTP budget plus slack, at most three tick intervals.
    const ms = Math.max(1000, Math.min(this.config.httpTimeoutS * 1000 + 2000, this.config.tickS * 3000));
    const abort = new AbortController();
    const timedOut = new Error(`collector ${name} did not finish within ${ms} ms`);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        abort.abort();
        reject(timedOut);
      }, ms);
    });
    try {
      const ctx = { abortSignal: abort.signal, deadline: Date.now() + ms, now, log: log.child({ collector: name }) };
      return await Promise.race([collector.collect(ctx), timeout]);
    } catch (err) {
      metrics.collectorErrors.inc({ collector: name });
      if (err === timedOut) log.warn({ collector: name }, timedOut.message);
      else log.error({ err, collector: name }, 'collector failed; keeping its previous signals');
      return null;
    } finally {
      clearTimeout(timer);
    }
  }
}
