import pino from 'pino';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Config } from '../../config.js';
import { readBootTimeS, readClockTicks } from '../../proc/read-proc.js';
import { identityKey } from '../../proc/parse-stat.js';
import type { AgentPidWarning, OrchLocation } from '../../watchdog/agent-directory.js';
import { callTimeoutMs, withTimeout } from '../../http.js';
import { METRIC_PREFIX } from '../../metrics.js';
import { describeDockerError, type ContainerState, type DockerReader } from '../containers/docker-client.js';
import type { CollectContext, Collector, Signal } from '../../watchdog/signal.js';
import { createMatcher, type Matcher } from './program.js';
import { RunTracker, type Candidate, type Owners, type RunAlert } from './runs.js';
import { ScanWorker } from './scan-worker.js';
import type { ScanRequest, ScanResult } from './scanner.js';
import { blockingSignals, judgeRuns, type TickClock } from './signals.js';
import { RunStops, type RunStopsDeps } from './stop.js';

/** Enough of the command line to match on; a huge argv (xdist node ids) is cut here. */
const CMDLINE_READ_BYTES = 4096;
/** A cached "does not match" is re-read within this time, so setproctitle is seen. */
const CMDLINE_RECHECK_MS = 60_000;

interface ProcCollectorDeps extends Partial<Pick<RunStopsDeps, 'log' | 'agents' | 'retests' | 'clock' | 'emitEdge'>> {
  registry?: Registry;
  /** false turns the reaper off whatever WATCHDOG_PROC_REAP_ENABLED says (the one-shot CLI tick) */
  allowReap?: boolean;
  /** locates WATCHDOG_ORCH_CONTAINER, whose namespace the envelope's pids are in */
  docker?: DockerReader;
}

/** The /proc scan's metrics, registered on the app's own registry. */
function createProcMetrics(registry: Registry) {
  const registers = [registry];
  const gauge = (name: string, help: string): Gauge => new Gauge({ name: `${METRIC_PREFIX}${name}`, help, registers });
  const counter = <L extends string>(name: string, help: string, label: L): Counter<L> =>
    new Counter<L>({ name: `${METRIC_PREFIX}${name}`, help, labelNames: [label], registers });
  const m = {
    candidates: gauge(
      'proc_candidates',
      'Candidates at the last scan: processes whose program (WATCHDOG_PROC_MATCH) matches WATCHDOG_PROC_PATTERNS, and leftovers of their runs.',
    ),
    blocking: gauge('proc_blocking', 'Matching processes older than WATCHDOG_PROC_AGE_MIN, at the last scan.'),
    oldestAge: gauge('proc_oldest_age_seconds', 'Age of the oldest matching process at the last scan (0 when none).'),
    scanDuration: new Histogram({
      name: `${METRIC_PREFIX}proc_scan_duration_seconds`,
      help: 'Duration of one /proc scan.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    readErrors: counter(
      'proc_read_errors_total',
      'Per-process /proc reads that failed, by kind (eacces, parse, other); vanished processes are not errors.',
      'kind',
    ),
    reaped: counter('proc_reaped_total', 'Matching processes terminated, by trigger (reaper or api).', 'trigger'),
  };
  for (const kind of ['eacces', 'parse', 'other']) m.readErrors.inc({ kind }, 0);
  for (const trigger of ['reaper', 'api']) m.reaped.inc({ trigger }, 0);
  return m;
}

/** proc_blocking: test runs older than WATCHDOG_PROC_AGE_MIN and what finished runs left behind; the last view for the API. */
export class ProcCollector implements Collector {
  readonly name = 'proc';
  readonly worker: ScanWorker;
  private readonly runs = new RunTracker();
  private readonly matcher: Matcher;
  private readonly metrics: ReturnType<typeof createProcMetrics> | null;
  /** The one stop path: POST /proc/candidates/:pid/terminate and the reaper. */
  readonly stops: RunStops;
  private boot: Promise<{ btimeS: number; clkTck: number }> | null = null;
  private last: { scannedAt: number; candidates: Candidate[]; alerts: RunAlert[] } | null = null;

  constructor(
    private readonly config: Config,
    private readonly deps: ProcCollectorDeps = {},
  ) {
    const matcherOpts = { patterns: config.procPatterns, exclude: config.procExclude, mode: config.procMatch };
    this.matcher = createMatcher(matcherOpts);
    const log = deps.log ?? pino({ level: 'silent' });
    const { broken } = this.matcher;
    if (broken.length > 0)
      log.warn(
        { patterns: broken },
        'WATCHDOG_PROC_PATTERNS/EXCLUDE hold patterns that cannot run in linear time; matching and the reaper are off',
      );
    const scanOpts = { root: config.procRoot, ...matcherOpts, recheckMs: CMDLINE_RECHECK_MS, cmdlineMaxBytes: CMDLINE_READ_BYTES };
    this.worker = new ScanWorker(scanOpts);
    this.metrics = deps.registry ? createProcMetrics(deps.registry) : null;
    this.stops = new RunStops(config, { ...deps, log, reaped: this.metrics?.reaped, matcher: this.matcher, last: () => this.last });
  }

  private loadBoot(): Promise<{ btimeS: number; clkTck: number }> {
    this.boot ??= Promise.all([readBootTimeS(this.config.procRoot), readClockTicks()])
      .then(([btimeS, clkTck]) => ({ btimeS, clkTck }))
      .catch((err: unknown) => {
        this.boot = null; // retried next tick
        throw err;
      });
    return this.boot;
  }

  async collect(ctx: CollectContext): Promise<Signal[]> {
    if (!this.config.procEnabled) return [];
    const boot = await this.loadBoot();
    const scan = await this.scanPlacingAgents(ctx);
    const { candidates, alerts } = this.judge(scan, { ...boot, nowMs: ctx.now, thresholdS: this.config.procAgeMin * 60 });
    const { procReapAgeMin, procCooldownS: cooldownS, locale } = this.config;
    const settings = { reapAgeS: procReapAgeMin * 60, cooldownS, locale };
    const signals = blockingSignals(this.last?.alerts ?? [], alerts, (pid) => this.runs.startOf(pid), settings);
    this.last = { scannedAt: ctx.now, candidates, alerts };
    this.observe(scan, candidates);
    if (scan.errors.eacces + scan.errors.other > 0) ctx.log.debug({ errors: scan.errors }, 'some /proc entries could not be read');
    if (this.config.procReapEnabled && this.deps.allowReap !== false && this.matcher.broken.length === 0) this.stops.reap(alerts, ctx.log);
    return signals;
  }

  /** The scan's matching processes and watched members, through the runs, to candidates and alerts. */
  private judge(scan: ScanResult, clock: TickClock): ReturnType<typeof judgeRuns> {
    const { agents } = this.deps;
    const retests = this.deps.retests?.list() ?? [];
    const owners: Owners = { agents: agents?.byHostPid() ?? new Map(), retests: new Map(retests.map((r) => [identityKey(r), r.id])) };
    const step = this.runs.step(scan.lineage, scan.candidates, clock.nowMs, owners);
    const facts = new Map([...scan.watched, ...scan.candidates].map((p) => [p.pid, p]));
    return judgeRuns(step, facts, {
      clock,
      leftoverGraceS: this.config.procLeftoverGraceS,
      isExcluded: (argv) => this.matcher.isExcluded(argv),
      retestsInTimeout: new Set(retests.filter((r) => clock.nowMs < r.deadlineMs).map((r) => r.id)),
      listedRunIds: agents ? new Set(agents.listed.map((a) => a.runId)) : null,
      processesOf: (run) => this.runs.processesOf(run),
    });
  }

  /** One scan, which also places the envelope's agent pids on this host (AgentDirectory). */
  private async scanPlacingAgents(ctx: CollectContext, isDebounced = true): Promise<ScanResult> {
    const { agents } = this.deps;
    const request: ScanRequest = { watch: this.runs.watched() };
    if (!agents) return this.worker.scan(ctx.abortSignal, request);
    const location = await this.locateOrchestrator(ctx);
    const placement = agents.startPlacement(location, this.config.procRoot, isDebounced);
    const scan = await this.worker.scan(ctx.abortSignal, { ...request, ...placement.request });
    placement.place(scan);
    return scan;
  }

  /** WATCHDOG_ORCH_CONTAINER through the Engine: its id and init pid, or why it cannot be located. */
  private async locateOrchestrator(ctx: CollectContext): Promise<OrchLocation> {
    const { orchContainer: container, dockerSock, httpTimeoutS } = this.config;
    const { docker } = this.deps;
    if (container === '') return { kind: 'shared' };
    if (docker === undefined) return { kind: 'unknown', container, reason: 'no Docker Engine client is configured' };
    let state: ContainerState | null;
    try {
      state = await docker.inspectContainer(container, withTimeout(ctx.abortSignal, callTimeoutMs(httpTimeoutS * 1000, ctx.deadline)));
    } catch (err) {
      const reason = `the Docker Engine could not be read: ${describeDockerError(err, dockerSock, httpTimeoutS)}`;
      return { kind: 'unknown', container, reason };
    }
    if (state === null) return { kind: 'unknown', container, reason: `no container is named "${container}"` };
    if (state.initPid <= 0) return { kind: 'stopped', container, status: state.status };
    return { kind: 'running', container, id: state.id, initPid: state.initPid };
  }

  /** check-config: one placement of the agents now, every warning at once. */
  async checkAgentPids(ctx: CollectContext): Promise<readonly AgentPidWarning[]> {
    await this.scanPlacingAgents(ctx, false);
    return this.deps.agents?.pidWarnings ?? [];
  }

  private observe(scan: ScanResult, candidates: Candidate[]): void {
    const m = this.metrics;
    if (!m) return;
    m.scanDuration.observe(scan.durationMs / 1000);
    for (const [kind, n] of Object.entries(scan.errors)) if (n > 0) m.readErrors.inc({ kind }, n);
    m.candidates.set(candidates.length);
    m.blocking.set(candidates.filter((c) => c.isBlocking).length);
    m.oldestAge.set(candidates[0]?.ageS ?? 0);
  }

  /** `scannedAt`: ms since epoch of the last finished scan */
  view(): { enabled: boolean; thresholdS: number; scannedAt: number | null; candidates: Candidate[] } {
    return {
      enabled: this.config.procEnabled,
      thresholdS: this.config.procAgeMin * 60,
      scannedAt: this.last?.scannedAt ?? null,
      candidates: this.config.procEnabled ? (this.last?.candidates ?? []) : [],
    };
  }

  async close(): Promise<void> {
    await this.worker.close();
  }
}
