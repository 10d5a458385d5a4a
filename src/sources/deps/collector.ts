import { Gauge, Histogram, type Registry } from 'prom-client';
import type { Dispatcher } from 'undici';
import type { Config, Dependency } from '../../config.js';
import { callTimeoutMs, describeHttpError, httpRequest, loadUndici } from '../../http.js';
import { METRIC_PREFIX } from '../../metrics.js';
import { DepSignals, type PingOutcome } from './signals.js';
import type { CollectContext, Collector, Signal } from '../../watchdog/signal.js';

/** Labelled by the dependency's configured name, never its URL (URLs may carry secrets and vary). */
export function createDepMetrics(registry: Registry) {
  return {
    up: new Gauge({
      name: `${METRIC_PREFIX}dep_up`,
      help: 'Whether the last ping of the dependency answered 2xx/3xx (1) or not (0), by dependency name.',
      labelNames: ['dep'],
      registers: [registry],
    }),
    latency: new Histogram({
      name: `${METRIC_PREFIX}dep_latency_seconds`,
      help: 'Time to the response headers of a dependency ping (failed pings included), by dependency name.',
      labelNames: ['dep'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
  };
}

/** One GET, never throws: the outcome says up or why not, with the time to the answer. */
export async function pingDependency(
  url: string,
  opts: { timeoutMs: number; signal?: AbortSignal; dispatcher?: Dispatcher },
): Promise<PingOutcome> {
  // undici loads on first use (~10 MB of RSS): before the clock starts, so the first latency is the peer's
  await loadUndici();
  const started = performance.now();
  try {
    // A ping only needs the status: no body is kept; 2xx and 3xx are up (a redirect is an answer, never followed).
    const { status } = await httpRequest(url, { ...opts, maxBytes: 0, oversize: 'cut' });
    const latencyMs = performance.now() - started;
    return status >= 200 && status < 400 ? { ok: true, status, latencyMs } : { ok: false, reason: `HTTP ${status}`, latencyMs };
  } catch (err) {
    return { ok: false, reason: describeHttpError(err), latencyMs: performance.now() - started };
  }
}

/** Pings in parallel, each ending before the tick budget, so one hung dependency never hides the others. */
export class DepCollector implements Collector {
  readonly name = 'deps';
  private readonly signals: DepSignals;

  constructor(
    private readonly config: Pick<Config, 'deps' | 'httpTimeoutS' | 'depDownAfter' | 'locale'>,
    private readonly opts: { metrics?: ReturnType<typeof createDepMetrics>; dispatcher?: Dispatcher } = {},
  ) {
    this.signals = new DepSignals({ downAfter: config.depDownAfter, locale: config.locale });
  }

  async collect(ctx: CollectContext): Promise<Signal[]> {
    const timeoutMs = callTimeoutMs(this.config.httpTimeoutS * 1000, ctx.deadline);
    return Promise.all(
      this.config.deps.map(async (dep: Dependency) => {
        const outcome = await pingDependency(dep.url, { timeoutMs, signal: ctx.abortSignal, dispatcher: this.opts.dispatcher });
        this.opts.metrics?.up.set({ dep: dep.name }, outcome.ok ? 1 : 0);
        this.opts.metrics?.latency.observe({ dep: dep.name }, outcome.latencyMs / 1000);
        if (!outcome.ok) ctx.log.warn({ dep: dep.name, reason: outcome.reason }, 'dependency ping failed');
        return this.signals.next(dep, outcome);
      }),
    );
  }
}
