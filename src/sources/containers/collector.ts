import { setMaxListeners } from 'node:events';
import { Gauge, type Registry } from 'prom-client';
import type { Config } from '../../config.js';
import { ContainerSignals, type ContainerLookup } from './signals.js';
import type { CollectContext, Collector, Signal } from '../../watchdog/signal.js';
import { describeDockerError, type DockerReader } from './docker-client.js';
import { callTimeoutMs, withTimeout } from '../../http.js';
import { METRIC_PREFIX } from '../../metrics.js';

/** Inspects in flight at once: enough for dozens of containers per tick without queueing the engine. */
const INSPECT_CONCURRENCY = 8;

/** Runs `fn` over `items` with at most `limit` calls in flight; results keep the input order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Close matches for a missing name, e.g. compose's "proj-web-1" for "web". */
function similarNames(name: string, all: readonly string[]): string[] {
  const lower = name.toLowerCase();
  return all.filter((n) => n !== name && (n.toLowerCase().includes(lower) || lower.includes(n.toLowerCase())));
}

export function createContainerMetrics(registry: Registry) {
  const help = 'Whether the Docker Engine answered the last check (1) or not (0).';
  return { dockerUp: new Gauge({ name: `${METRIC_PREFIX}docker_up`, help, registers: [registry] }) };
}

/** The whole pass shares one deadline, so a socket that never answers costs one timeout and yields the single engine signal. */
export class ContainerCollector implements Collector {
  readonly name = 'containers';
  private readonly signals: ContainerSignals;

  constructor(
    private readonly config: Pick<Config, 'containers' | 'dockerSock' | 'httpTimeoutS' | 'locale'>,
    private readonly docker: DockerReader,
    private readonly opts: { inspectConcurrency?: number; metrics?: ReturnType<typeof createContainerMetrics> } = {},
  ) {
    this.signals = new ContainerSignals({ names: config.containers, socketPath: config.dockerSock, locale: config.locale });
  }

  async collect(ctx: CollectContext): Promise<Signal[]> {
    const { dockerSock, httpTimeoutS } = this.config;
    const describe = (err: unknown): string => describeDockerError(err, dockerSock, httpTimeoutS);
    const concurrency = Math.max(1, this.opts.inspectConcurrency ?? INSPECT_CONCURRENCY);
    const deadline = withTimeout(ctx.abortSignal, callTimeoutMs(httpTimeoutS * 1000, ctx.deadline));
    try {
      await this.docker.ping(deadline);
    } catch (err) {
      const reason = describe(err);
      ctx.log.warn({ reason }, 'docker engine unreachable');
      this.opts.metrics?.dockerUp.set(0);
      return this.signals.next({ ok: false, reason }, ctx.now);
    }

    // The first transport failure stops the remaining inspects: the engine is the problem, not N containers.
    const giveUp = new AbortController();
    const callSignal = AbortSignal.any([deadline, giveUp.signal]);
    // Each inspect in flight listens on this signal (its request, its answer); all are removed when it settles.
    setMaxListeners(2 * concurrency + 4, callSignal);
    const found = await mapLimit(this.config.containers, concurrency, async (name): Promise<ContainerLookup> => {
      try {
        const state = await this.docker.inspectContainer(name, callSignal);
        return state === null ? { kind: 'missing', similar: [] } : { kind: 'found', state };
      } catch (err) {
        if (!giveUp.signal.aborted && (err as { statusCode?: number }).statusCode === undefined) giveUp.abort(err);
        return { kind: 'error', reason: describe(giveUp.signal.aborted ? giveUp.signal.reason : err) };
      }
    });
    const lookups = new Map(this.config.containers.map((name, i) => [name, found[i]!]));

    const missing = [...lookups].filter(([, l]) => l.kind === 'missing').map(([name]) => name);
    if (missing.length > 0 && !callSignal.aborted) {
      try {
        const all = await this.docker.listContainerNames(callSignal);
        for (const name of missing) lookups.set(name, { kind: 'missing', similar: similarNames(name, all) });
      } catch (err) {
        ctx.log.debug({ reason: describe(err) }, 'container list for name hints failed');
      }
    }

    const failed = [...lookups.values()].some((l) => l.kind === 'error');
    if (failed) ctx.log.warn('some containers could not be inspected');
    this.opts.metrics?.dockerUp.set(failed ? 0 : 1);
    return this.signals.next({ ok: true, lookups }, ctx.now);
  }
}
