import type { Dispatcher } from 'undici';
import type { Config, Dependency } from '../../config.js';
import { describeHttpError } from '../../http.js';
import { DepSignals, isUpStatus, type PingOutcome } from './signals.js';
import type { Signal } from '../../watchdog/signal.js';
import type { CollectContext, Collector } from '../../watchdog/collector.js';
import type { DepMetrics } from './metrics.js';

/** Read at most this much of a body before dropping the connection: a ping only needs the status. */
const BODY_DUMP_LIMIT_BYTES = 64 * 1024;

/** One GET, never throws: the outcome says up or why not, with the time to the answer. */
export async function pingDependency(url: string, opts: { timeoutMs: number; signal?: AbortSignal; dispatcher?: Dispatcher }): Promise<PingOutcome> {
  const deadline = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([deadline, opts.signal]) : deadline;
  // Loaded on first use (~10 MB of RSS), before the clock starts so the first latency is the peer's.
  const { request } = await import('undici');
  const started = performance.now();
  try {
    // undici's request() never follows redirects, so a 3xx is judged as it is.
    const res = await request(url, {
      method: 'GET',
      signal,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
      dispatcher: opts.dispatcher,
    });
    const latencyMs = performance.now() - started;
    // An unread body pins the connection; dump() reads a little and then destroys the socket.
    await res.body.dump({ limit: BODY_DUMP_LIMIT_BYTES }).catch(() => undefined);
    return isUpStatus(res.statusCode)
      ? { ok: true, status: res.statusCode, latencyMs }
      : { ok: false, reason: `HTTP ${res.statusCode}`, latencyMs };
  } catch (err) {
    return { ok: false, reason: describeHttpError(err), latencyMs: performance.now() - started };
  }
}

/** WATCHDOG_DEPS: every dependency pinged in parallel each tick, so the pass takes one timeout at most. */
export class DepCollector implements Collector {
  readonly name = 'deps';
  private readonly signals: DepSignals;

  constructor(
    private readonly config: Pick<Config, 'deps' | 'httpTimeoutS' | 'depDownAfter' | 'locale'>,
    private readonly opts: { metrics?: DepMetrics; dispatcher?: Dispatcher } = {},
  ) {
    this.signals = new DepSignals({ downAfter: config.depDownAfter, locale: config.locale });
  }

  async collect(ctx: CollectContext): Promise<Signal[]> {
    const timeoutMs = this.config.httpTimeoutS * 1000;
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
