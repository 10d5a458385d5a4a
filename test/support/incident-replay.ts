import { readFileSync } from 'node:fs';
import type { AmApiAlert } from './alertmanager.js';
import type { Received } from './fake-telegram.js';
import {
  AGENT_RUN_ID,
  API_TOKEN,
  FIXTURES,
  ORCH_CONTAINER,
  WATCHDOG_CONTAINER,
  cpuSomeAvg10,
  freePorts,
  markedPids,
  removeContainers,
  startOrchestrator,
  startWatchdog,
  type Stage,
  type WatchdogSettings,
} from './incident-cast.js';
import { PYTHON_BASE_IMAGE } from './python-base-image.js';
import { waitFor } from './wait-for.js';

/**
 * The incident, replayed on the stage of incident-cast.ts: an agent's pytest run is orphaned
 * (the agent killed with -9) and its workers starve the CPU; then either the watchdog sees,
 * alerts, holds the re-test, reaps and recovers — or, for reference, nothing acts and the
 * orchestrator's old `subprocess.run(timeout=…)` re-test times out and rolls the branch back.
 * Every wait is for a condition, with a generous limit; each step is stamped with the time it
 * happened, taken from the part that did it wherever one records it.
 */

export interface Mark {
  /** The step of the timeline (1..7), or null for what sets it up (start, kill, post). */
  step: number | null;
  what: string;
  atMs: number;
}

/** GET /proc/candidates, as the contract names the fields. */
export interface WireCandidate {
  pid: number;
  ppid: number;
  age_s: number;
  cpu_s: number;
  cmdline: string;
  orphaned: boolean;
  blocking: boolean;
  match: string;
  run_pid: number;
  owner: { kind: 'agent'; run_id: string; task: string | null; stage: string | null } | { kind: 'retest'; id: string } | null;
}

interface CandidatesView {
  scanned_at: string | null;
  candidates: WireCandidate[];
}

export interface WireRun {
  id: string;
  status: string;
  outcome?: string;
  decision?: string;
  waiting?: string | null;
  started_at?: string;
  finished_at?: string;
  duration_s?: number;
  attempt: number;
}

export interface TelegramMessage {
  action: 'ALERT' | 'REALERT' | 'RECOVERY' | 'other';
  key: string;
  text: string;
  atMs: number;
}

export interface AmNotification {
  status: string;
  alerts: { status: string; labels: Record<string, string> }[];
  atMs: number;
}

export interface WatchdogReplay {
  settings: WatchdogSettings;
  startedAtMs: number;
  marks: Mark[];
  topPid: number;
  workerPids: number[];
  /** The top as /proc/candidates showed it while its agent was alive (null: never listed with an owner in time). */
  ownerSeen: WireCandidate | null;
  orphan: { top: WireCandidate; workers: WireCandidate[] };
  alert: TelegramMessage;
  amFiring: AmApiAlert;
  psiAtPost: number;
  waitingRun: WireRun;
  /** Every candidate of the re-test's own pytest seen while it ran. */
  retestCandidates: WireCandidate[];
  survivors: number[];
  reaped: TelegramMessage;
  finalRun: WireRun;
  recovery: TelegramMessage;
  telegram: TelegramMessage[];
  amNotifications: AmNotification[];
  queue: { merge_gate: Record<string, unknown> };
  metrics: string;
  configWarnings: unknown[];
}

/**
 * The timing of the replay: a 1 s tick and fractional minutes (the keys take them), so the run
 * alerts at 15 s and is reaped at 60 s. 90 % PSI is far above what a CI host running the suite
 * idles at and below the ~100 % that workers outnumbering the cores four to one hold. Where other
 * load keeps the host over 90 % after the reap, the re-test starts once the 90 s pressure wait is
 * over — still well after the reap.
 */
export const REPLAY_SETTINGS = { procAgeMin: 0.25, reapAgeMin: 1, maxCpuPressure: 90, pressureWaitS: 90 } as const;

const ORPHAN_LIMIT_MS = 60_000;
const NOTIFY_LIMIT_MS = 60_000;

/** The action and alert key of a Telegram message ("🔴 ALERT · …" … "<code>proc_blocking:42</code>"). */
export function parseTelegram(r: Received): TelegramMessage {
  const head = r.text.split('\n', 1)[0] ?? '';
  const action = /\bALERT\b/.test(head)
    ? 'ALERT'
    : head.includes('STILL ACTIVE')
      ? 'REALERT'
      : head.includes('RECOVERED')
        ? 'RECOVERY'
        : 'other';
  const keys = [...r.text.matchAll(/<code>([a-z_]+:[^<]+)<\/code>/g)].map((m) => m[1]!);
  return { action, key: keys.at(-1) ?? '', text: r.text, atMs: r.atMs };
}

function amNotifications(stage: Stage): AmNotification[] {
  return stage.amReceiver.received.map((r) => ({ ...(JSON.parse(r.body) as Omit<AmNotification, 'atMs'>), atMs: r.atMs }));
}

/** The run's top (its parent is not marked) and its workers, from the host's /proc. */
function spinningRun(marker: string): { top: number; workers: number[] } | null {
  const pids = markedPids(marker);
  const ppid = (pid: number): number => Number(/^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  try {
    const tops = pids.filter((p) => !pids.includes(ppid(p)));
    if (tops.length !== 1) return null;
    return { top: tops[0]!, workers: pids.filter((p) => p !== tops[0]) };
  } catch {
    return null;
  }
}

/** Waits for the agent's pytest and every one of its workers, then kills the agent (-9) from the host. */
async function orphanTheRun(stage: Stage, beforeKill: (top: number) => Promise<void>): Promise<{ top: number; workers: number[] }> {
  let run: { top: number; workers: number[] } | null = null;
  await waitFor(
    `the agent's pytest and its ${stage.workers} workers spinning`,
    () => {
      run = spinningRun(stage.marker);
      return run !== null && run.workers.length === stage.workers;
    },
    { timeoutMs: 60_000, intervalMs: 100, describe: () => JSON.stringify(run) },
  );
  const { top, workers } = run!;
  await beforeKill(top);
  const agent = Number(/^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${top}/status`, 'utf8'))?.[1]);
  const agentCmdline = readFileSync(`/proc/${agent}/cmdline`, 'utf8');
  if (!agentCmdline.includes('/orch/agent.py')) throw new Error(`pytest ${top}'s parent ${agent} is not the agent: ${agentCmdline}`);
  process.kill(agent, 'SIGKILL');
  return { top, workers };
}

export function watchdogApi(port: number) {
  const call = async <T>(path: string, init: RequestInit = {}): Promise<T> => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { ...init, signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`${init.method ?? 'GET'} ${path} answered ${res.status}: ${text}`);
    return (path === '/metrics' ? text : JSON.parse(text)) as T;
  };
  return {
    candidates: () => call<CandidatesView>('/proc/candidates'),
    run: (id: string) => call<WireRun>(`/merge-gate/retests/${id}`),
    post: (body: unknown) =>
      call<{ id: string }>('/merge-gate/retests', {
        method: 'POST',
        headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }),
    queue: () => call<{ merge_gate: Record<string, unknown> }>('/queue'),
    metrics: () => call<string>('/metrics'),
    healthz: () => call<{ config_warnings: unknown[] }>('/healthz'),
  };
}

async function containerLogs(stage: Stage, name: string): Promise<string> {
  const r = await stage.dockerd.docker(['logs', '--tail', '40', name]);
  return `--- ${name} ---\n${r.stdout}${r.stderr}`;
}

/**
 * The replay with the watchdog: returns what each step showed and when, and leaves both
 * containers for the caller to remove (removeContainers).
 */
export async function replayWithWatchdog(stage: Stage, settings: Omit<WatchdogSettings, 'port' | 'orchPort'>, retestTimeoutS: number) {
  const ports = await freePorts();
  const s: WatchdogSettings = { ...settings, ...ports };
  await startWatchdog(stage, s);
  const api = watchdogApi(s.port);
  const marks: Mark[] = [];
  const mark = (step: number | null, what: string, atMs = Date.now()): void => void marks.push({ step, what, atMs });
  let logs = '';
  const describe = () => logs;
  const refreshLogs = async () => {
    logs = (await containerLogs(stage, WATCHDOG_CONTAINER)) + (await containerLogs(stage, ORCH_CONTAINER));
  };
  const telegram = () => stage.telegram.delivered().map(parseTelegram);

  await startOrchestrator(stage, s.orchPort);
  const startedAtMs = Date.now();
  mark(null, `orchestrator up in its own PID namespace; agent run ${AGENT_RUN_ID} starts pytest with ${stage.workers} spinning workers`);

  // The owner is learnt while the agent lives; the kill comes well before the run reaches the alert age.
  let ownerSeen: WireCandidate | null = null;
  const { top, workers } = await orphanTheRun(stage, async (topPid) => {
    const killByMs = startedAtMs + (s.procAgeMin * 60 - 6) * 1000;
    while (Date.now() < killByMs && ownerSeen === null) {
      const c = (await api.candidates()).candidates.find((x) => x.pid === topPid && x.owner?.kind === 'agent');
      if (c) ownerSeen = c;
      else await new Promise((r) => setTimeout(r, 200));
    }
    if (ownerSeen) mark(null, `/proc/candidates: pytest ${topPid} owned by agent run ${AGENT_RUN_ID} (agent alive)`);
  });
  mark(null, `agent killed with -9; pytest ${top} and ${workers.length} workers keep spinning`);

  let orphan: WatchdogReplay['orphan'] | null = null;
  await waitFor(
    'step 1: /proc/candidates showing the run orphaned, with every worker',
    async () => {
      const view = await api.candidates();
      const t = view.candidates.find((c) => c.pid === top);
      const ws = view.candidates.filter((c) => workers.includes(c.pid) && c.run_pid === top);
      if (t?.orphaned && ws.length === workers.length) {
        orphan = { top: t, workers: ws };
        mark(
          1,
          `orphaned run seen: pytest ${top} (${t.cmdline}), ${ws.length} workers, owner ${JSON.stringify(t.owner)}`,
          Date.parse(view.scanned_at!),
        );
      }
      return orphan !== null;
    },
    { timeoutMs: ORPHAN_LIMIT_MS, intervalMs: 250, describe },
  ).catch(async (err) => {
    await refreshLogs();
    throw err;
  });

  const key = `proc_blocking:${top}`;
  let amFiring: AmApiAlert | undefined;
  await waitFor(
    'step 2: the proc_blocking ALERT in Telegram and firing in Alertmanager (and its notification)',
    async () => {
      amFiring ??= (await stage.alertmanager.alerts()).find(
        (a) => a.labels.alertname === 'proc_blocking' && a.labels.entity === String(top),
      );
      const notified = amNotifications(stage).some((n) => n.status === 'firing' && n.alerts.some((a) => a.labels.entity === String(top)));
      return telegram().some((m) => m.action === 'ALERT' && m.key === key) && amFiring !== undefined && notified;
    },
    { timeoutMs: NOTIFY_LIMIT_MS, intervalMs: 250, describe },
  );
  const alert = telegram().find((m) => m.action === 'ALERT' && m.key === key)!;
  mark(2, 'ALERT proc_blocking delivered to Telegram', alert.atMs);
  const amFired = amNotifications(stage).find((n) => n.status === 'firing' && n.alerts.some((a) => a.labels.entity === String(top)))!;
  mark(2, 'Alertmanager notifies firing', amFired.atMs);

  await waitFor(`the orphan driving PSI cpu some avg10 over ${s.maxCpuPressure} %`, () => cpuSomeAvg10() > s.maxCpuPressure, {
    timeoutMs: 90_000,
    intervalMs: 250,
  });
  const psiAtPost = cpuSomeAvg10();
  const postedMs = Date.now();
  const { id } = await api.post({
    repo: 'orchestrator',
    branch: 'task/ORCH-516',
    cwd: stage.checkout,
    command: ['pytest', '-q', '-p', 'no:cacheprovider', stage.branchSuite],
    timeout_s: retestTimeoutS,
  });
  mark(null, `re-test ${id} posted (PSI cpu some avg10 ${psiAtPost} %)`, postedMs);
  let waitingRun: WireRun | undefined;
  await waitFor(
    'step 3: the re-test waiting on CPU pressure',
    async () => {
      const run = await api.run(id);
      if (run.status === 'queued' && run.waiting === 'cpu_pressure') waitingRun = run;
      return waitingRun !== undefined || run.status !== 'queued';
    },
    { timeoutMs: 30_000, intervalMs: 200, describe },
  );
  if (!waitingRun)
    throw new Error(`step 3: re-test ${id} left the queue without waiting on CPU pressure: ${JSON.stringify(await api.run(id))}`);
  mark(3, `re-test ${id} queued, waiting: cpu_pressure`);

  const orphanPids = [top, ...workers];
  const retestCandidates: WireCandidate[] = [];
  const watchRetest = async (): Promise<void> => {
    for (const c of (await api.candidates()).candidates) if (c.cmdline.includes(stage.branchSuite)) retestCandidates.push(c);
  };
  await waitFor(
    'step 4: the reaper ending the orphan, every worker included',
    async () => {
      await watchRetest();
      return orphanPids.every((pid) => !markedPids(stage.marker).includes(pid));
    },
    { timeoutMs: s.reapAgeMin * 60_000 + 60_000, intervalMs: 250, describe },
  ).catch(async (err) => {
    await refreshLogs();
    throw err;
  });
  mark(4, `orphan gone: pytest ${top} and its ${workers.length} workers`);
  const survivors = orphanPids.filter((pid) => markedPids(stage.marker).includes(pid));
  await waitFor('the proc_reaped notice in Telegram', () => telegram().some((m) => m.key === `proc_reaped:${top}`), {
    timeoutMs: NOTIFY_LIMIT_MS,
    describe,
  });
  const reaped = telegram().find((m) => m.key === `proc_reaped:${top}`)!;
  mark(4, 'proc_reaped notice delivered to Telegram', reaped.atMs);

  let finalRun: WireRun | undefined;
  let psiAtStart: number | undefined;
  await waitFor(
    'step 5: the re-test done',
    async () => {
      await watchRetest();
      const run = await api.run(id);
      if (run.status === 'running') psiAtStart ??= cpuSomeAvg10();
      if (run.status === 'done') finalRun = run;
      return finalRun !== undefined;
    },
    { timeoutMs: s.pressureWaitS * 1000 + retestTimeoutS * 1000 + 60_000, intervalMs: 200, describe },
  );
  const startedMs = Date.parse(finalRun!.started_at!);
  // Other load on the host can keep it starved after the reap: then the gate starts the run once its wait is over.
  const why = startedMs - postedMs >= (s.pressureWaitS - 2) * 1000 ? 'the pressure wait is over' : 'the pressure fell';
  mark(5, `re-test ${id} started: ${why} (PSI cpu some avg10 ${psiAtStart ?? '?'} %)`, startedMs);
  mark(5, `re-test ${id} done: outcome ${finalRun!.outcome}, decision ${finalRun!.decision}`, Date.parse(finalRun!.finished_at!));

  await waitFor(
    'step 6: RECOVERY in Telegram, and the alert resolved in Alertmanager (and its notification)',
    async () => {
      const firing = (await stage.alertmanager.alerts()).some(
        (a) => a.labels.alertname === 'proc_blocking' && a.labels.entity === String(top),
      );
      const resolved = amNotifications(stage).some((n) => n.status === 'resolved' && n.alerts.some((a) => a.labels.entity === String(top)));
      return telegram().some((m) => m.action === 'RECOVERY' && m.key === key) && !firing && resolved;
    },
    { timeoutMs: NOTIFY_LIMIT_MS, intervalMs: 250, describe },
  );
  const recovery = telegram().find((m) => m.action === 'RECOVERY' && m.key === key)!;
  mark(6, 'RECOVERY proc_blocking delivered to Telegram', recovery.atMs);
  const amResolved = amNotifications(stage).find((n) => n.status === 'resolved' && n.alerts.some((a) => a.labels.entity === String(top)))!;
  mark(6, 'Alertmanager notifies resolved', amResolved.atMs);

  const [queue, metrics, health] = await Promise.all([api.queue(), api.metrics(), api.healthz()]);
  mark(7, '/queue and /metrics read');
  return {
    settings: s,
    startedAtMs,
    marks,
    topPid: top,
    workerPids: workers,
    ownerSeen,
    orphan: orphan!,
    alert,
    amFiring: amFiring!,
    psiAtPost,
    waitingRun,
    retestCandidates,
    survivors,
    reaped,
    finalRun: finalRun!,
    recovery,
    telegram: telegram(),
    amNotifications: amNotifications(stage),
    queue,
    metrics,
    configWarnings: health.config_warnings,
  } satisfies WatchdogReplay;
}

export interface ReferenceReplay {
  startedAtMs: number;
  marks: Mark[];
  baselineS: number;
  budgetS: number;
  psiAtRetest: number;
  retest: LegacyResult;
  /** The same suite under the same starvation, given all the time it needs. */
  starvedS: number;
  /** Orphan processes still spinning when the reference ends. */
  stillSpinning: number;
  telegramMessages: number;
}

interface LegacyResult {
  returncode: number | null;
  timed_out: boolean;
  duration_s: number;
  decision: string;
}

async function legacyRetest(stage: Stage, where: string[], budgetS: number): Promise<LegacyResult> {
  const out = await stage.dockerd.dockerOk([...where, 'python3', '/orch/legacy_retest.py', stage.checkout, String(budgetS)], {
    timeoutMs: (budgetS + 120) * 1000,
  });
  return JSON.parse(out.trim().split('\n').at(-1)!) as LegacyResult;
}

/** The branch's suite alone, the old way, in a throwaway container: the reference duration. */
export async function measureBaseline(stage: Stage): Promise<number> {
  // prettier-ignore
  const where = ['run', '--rm', '--network', 'none', '-v', `${stage.workspaces}:${stage.workspaces}`, '-v', `${FIXTURES}:/orch:ro`, PYTHON_BASE_IMAGE];
  const r = await legacyRetest(stage, where, 600);
  if (r.returncode !== 0) throw new Error(`the branch suite failed alone: ${JSON.stringify(r)}`);
  return r.duration_s;
}

/**
 * The same incident with nothing acting: the orphan spins on, the orchestrator's own
 * `subprocess.run(timeout=budget)` re-test runs into the starvation, times out, and the
 * timeout reads as a red branch (rollback). Nobody is told.
 */
export async function replayWithoutWatchdog(
  stage: Stage,
  budgetS: number,
  baselineS: number,
  starvedAbovePct: number,
): Promise<ReferenceReplay> {
  const { orchPort } = await freePorts();
  const before = stage.telegram.received.length;
  const marks: Mark[] = [];
  const mark = (step: number | null, what: string, atMs = Date.now()): void => void marks.push({ step, what, atMs });
  await startOrchestrator(stage, orchPort);
  const startedAtMs = Date.now();
  mark(null, `orchestrator up; agent run ${AGENT_RUN_ID} starts pytest with ${stage.workers} spinning workers`);
  const { top, workers } = await orphanTheRun(stage, () => Promise.resolve());
  mark(null, `agent killed with -9; pytest ${top} and ${workers.length} workers keep spinning`);
  await waitFor(`PSI cpu some avg10 over ${starvedAbovePct} %`, () => cpuSomeAvg10() > starvedAbovePct, {
    timeoutMs: 90_000,
    intervalMs: 250,
  });
  const psiAtRetest = cpuSomeAvg10();
  mark(null, `re-test started the old way: subprocess.run(timeout=${budgetS}) (PSI cpu some avg10 ${psiAtRetest} %)`);
  const retest = await legacyRetest(stage, ['exec', ORCH_CONTAINER], budgetS);
  mark(5, `re-test ${retest.timed_out ? 'timed out' : 'finished'} after ${retest.duration_s} s: decision ${retest.decision}`);
  const unbounded = await legacyRetest(stage, ['exec', ORCH_CONTAINER], 600);
  mark(null, `the same suite, unbounded, under the orphan: ${unbounded.duration_s} s (${baselineS} s alone)`);
  const stillSpinning = [top, ...workers].filter((pid) => markedPids(stage.marker).includes(pid)).length;
  mark(null, `${stillSpinning} orphan processes still spinning; Telegram messages: ${stage.telegram.received.length - before}`);
  const telegramMessages = stage.telegram.received.length - before;
  await removeContainers(stage);
  return { startedAtMs, marks, baselineS, budgetS, psiAtRetest, retest, starvedS: unbounded.duration_s, stillSpinning, telegramMessages };
}

/** The timeline as the bench and the test log print it: t+seconds from the orchestrator's start. */
export function formatTimeline(startedAtMs: number, marks: readonly Mark[]): string {
  return [...marks]
    .sort((a, b) => a.atMs - b.atMs)
    .map((m) => `  t+${((m.atMs - startedAtMs) / 1000).toFixed(1).padStart(5)} s  ${m.step === null ? '   ' : `[${m.step}]`}  ${m.what}`)
    .join('\n');
}
