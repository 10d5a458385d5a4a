import { readFileSync } from 'node:fs';
import type { AmApiAlert } from './alertmanager.js';
import type { Received } from './fake-telegram.js';
import {
  AGENT_RUN_ID,
  AGENT_TASK,
  API_TOKEN,
  ORCH_CONTAINER,
  WATCHDOG_CONTAINER,
  cpuSomeAvg10,
  freePorts,
  startOrchestrator,
  startWatchdog,
  type Stage,
  type WatchdogSettings,
} from './incident-cast.js';
import { markedPids } from './pytest-suite.js';
import { waitFor } from './wait-for.js';

/**
 * The incident, replayed on the stage of incident-cast.ts: an agent's pytest run is orphaned
 * (the agent killed with -9) and its workers starve the CPU; the watchdog sees it, alerts,
 * holds the re-test, reaps, lets the re-test pass and recovers (incident-reference.ts replays
 * it with nothing acting). Every wait is for a condition, with a generous limit; each step is
 * stamped with the time it happened, taken from the part that did it wherever one records it.
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
 * alerts at 15 s and is reaped at 60 s. 75 % PSI is above what a CI host running the suite idles
 * at and below what workers outnumbering the cores four to one hold: 85–95 % on this VM kind, not
 * 100 % (with 90 % a dip let the re-test start before the reap). Where other load keeps the host
 * over 75 % after the reap, the re-test starts once the 90 s pressure wait is over — still well
 * after the reap.
 */
export const REPLAY_SETTINGS = { procAgeMin: 0.25, reapAgeMin: 1, maxCpuPressure: 75, pressureWaitS: 90 } as const;

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
export async function orphanTheRun(stage: Stage, beforeKill: (top: number) => Promise<void>): Promise<{ top: number; workers: number[] }> {
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

async function containerLogs(stage: Stage): Promise<string> {
  let out = '';
  for (const name of [WATCHDOG_CONTAINER, ORCH_CONTAINER]) {
    const r = await stage.dockerd.docker(['logs', '--tail', '40', name]);
    out += `\n--- docker logs ${name} ---\n${r.stdout}${r.stderr}`;
  }
  return out;
}

/** What every step of the replay with the watchdog shares. */
interface Scene {
  stage: Stage;
  s: WatchdogSettings;
  api: ReturnType<typeof watchdogApi>;
  marks: Mark[];
  top: number;
  workers: number[];
}

export const mark = (scene: Pick<Scene, 'marks'>, step: number | null, what: string, atMs = Date.now()): void =>
  void scene.marks.push({ step, what, atMs });
const telegramOf = (stage: Stage): TelegramMessage[] => stage.telegram.delivered().map(parseTelegram);
const isAboutTop = (scene: Scene) => (n: AmNotification, status: string) =>
  n.status === status && n.alerts.some((a) => a.labels.alertname === 'proc_blocking' && a.labels.entity === String(scene.top));

async function amHolds(scene: Scene): Promise<AmApiAlert | undefined> {
  return (await scene.stage.alertmanager.alerts()).find(
    (a) => a.labels.alertname === 'proc_blocking' && a.labels.entity === String(scene.top),
  );
}

/** The owner is learnt while the agent lives; the kill comes well before the run reaches the alert age. */
async function ownerWhileAlive(scene: Omit<Scene, 'top' | 'workers'>, top: number, startedAtMs: number): Promise<WireCandidate | null> {
  const killByMs = startedAtMs + (scene.s.procAgeMin * 60 - 6) * 1000;
  while (Date.now() < killByMs) {
    const c = (await scene.api.candidates()).candidates.find((x) => x.pid === top && x.owner?.kind === 'agent');
    if (c) {
      mark(scene, null, `/proc/candidates: pytest ${top} owned by agent run ${AGENT_RUN_ID} (agent alive)`);
      return c;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return null;
}

async function step1OrphanSeen(scene: Scene): Promise<WatchdogReplay['orphan']> {
  let orphan: WatchdogReplay['orphan'] | null = null;
  await waitFor(
    'step 1: /proc/candidates showing the run orphaned, with every worker',
    async () => {
      const view = await scene.api.candidates();
      const top = view.candidates.find((c) => c.pid === scene.top);
      const workers = view.candidates.filter((c) => scene.workers.includes(c.pid) && c.run_pid === scene.top);
      if (!top?.orphaned || workers.length !== scene.workers.length) return false;
      orphan = { top, workers };
      const what = `orphaned run seen: pytest ${scene.top} (${top.cmdline}), ${workers.length} workers, owner ${JSON.stringify(top.owner)}`;
      mark(scene, 1, what, Date.parse(view.scanned_at!));
      return true;
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  );
  return orphan!;
}

async function step2Alerted(scene: Scene): Promise<{ alert: TelegramMessage; amFiring: AmApiAlert }> {
  const key = `proc_blocking:${scene.top}`;
  const tgAlert = () => telegramOf(scene.stage).find((m) => m.action === 'ALERT' && m.key === key);
  const amFired = () => amNotifications(scene.stage).find((n) => isAboutTop(scene)(n, 'firing'));
  let amFiring: AmApiAlert | undefined;
  await waitFor(
    'step 2: the proc_blocking ALERT in Telegram and firing in Alertmanager (and its notification)',
    async () => {
      amFiring ??= await amHolds(scene);
      return tgAlert() !== undefined && amFiring !== undefined && amFired() !== undefined;
    },
    { timeoutMs: NOTIFY_LIMIT_MS, intervalMs: 250 },
  );
  mark(scene, 2, 'ALERT proc_blocking delivered to Telegram', tgAlert()!.atMs);
  mark(scene, 2, 'Alertmanager notifies firing', amFired()!.atMs);
  return { alert: tgAlert()!, amFiring: amFiring! };
}

async function step3RetestWaits(
  scene: Scene,
  timeoutS: number,
): Promise<{ id: string; postedMs: number; psiAtPost: number; waitingRun: WireRun }> {
  const { s, api, stage } = scene;
  // Held for 3 s: the kernel updates avg10 every 2 s and the gate judges by its own reading of the last second.
  let aboveSinceMs: number | null = null;
  await waitFor(
    `the orphan holding PSI cpu some avg10 over ${s.maxCpuPressure} % for 3 s`,
    () => {
      aboveSinceMs = cpuSomeAvg10() > s.maxCpuPressure ? (aboveSinceMs ?? Date.now()) : null;
      return aboveSinceMs !== null && Date.now() - aboveSinceMs >= 3_000;
    },
    { timeoutMs: 90_000, intervalMs: 250 },
  );
  const psiAtPost = cpuSomeAvg10();
  const postedMs = Date.now();
  const { id } = await api.post({
    repo: 'orchestrator',
    branch: `task/${AGENT_TASK}`,
    cwd: stage.checkout,
    command: ['pytest', '-q', '-p', 'no:cacheprovider', stage.branchSuite],
    timeout_s: timeoutS,
  });
  mark(scene, null, `re-test ${id} posted (PSI cpu some avg10 ${psiAtPost} %)`, postedMs);
  let run: WireRun | undefined;
  await waitFor(
    'step 3: the re-test out of the queue or waiting on CPU pressure',
    async () => {
      run = await api.run(id);
      return run.status !== 'queued' || run.waiting === 'cpu_pressure';
    },
    { timeoutMs: 30_000, intervalMs: 200 },
  );
  if (run?.waiting !== 'cpu_pressure')
    throw new Error(`step 3: re-test ${id} started without waiting on CPU pressure: ${JSON.stringify(run)}`);
  mark(scene, 3, `re-test ${id} queued, waiting: cpu_pressure`);
  return { id, postedMs, psiAtPost, waitingRun: run };
}

/** Keeps every candidate of the re-test's own pytest seen while the later steps wait. */
function retestWatcher(scene: Scene): { seen: WireCandidate[]; look: () => Promise<void> } {
  const seen: WireCandidate[] = [];
  const look = async (): Promise<void> => {
    for (const c of (await scene.api.candidates()).candidates) if (c.cmdline.includes(scene.stage.branchSuite)) seen.push(c);
  };
  return { seen, look };
}

async function step4Reaped(scene: Scene, lookAtRetest: () => Promise<void>): Promise<{ survivors: number[]; reaped: TelegramMessage }> {
  const orphanPids = [scene.top, ...scene.workers];
  const alive = () => orphanPids.filter((pid) => markedPids(scene.stage.marker).includes(pid));
  await waitFor(
    'step 4: the reaper ending the orphan, every worker included',
    async () => {
      await lookAtRetest();
      return alive().length === 0;
    },
    { timeoutMs: scene.s.reapAgeMin * 60_000 + 60_000, intervalMs: 250 },
  );
  mark(scene, 4, `orphan gone: pytest ${scene.top} and its ${scene.workers.length} workers`);
  const survivors = alive();
  const notice = () => telegramOf(scene.stage).find((m) => m.key === `proc_reaped:${scene.top}`);
  await waitFor('the proc_reaped notice in Telegram', () => notice() !== undefined, { timeoutMs: NOTIFY_LIMIT_MS });
  mark(scene, 4, 'proc_reaped notice delivered to Telegram', notice()!.atMs);
  return { survivors, reaped: notice()! };
}

async function step5RetestDone(scene: Scene, r: { id: string; postedMs: number }, timeoutS: number, lookAtRetest: () => Promise<void>) {
  let run: WireRun | undefined;
  let psiAtStart: number | undefined;
  await waitFor(
    'step 5: the re-test done',
    async () => {
      await lookAtRetest();
      run = await scene.api.run(r.id);
      if (run.status === 'running') psiAtStart ??= cpuSomeAvg10();
      return run.status === 'done';
    },
    { timeoutMs: (scene.s.pressureWaitS + timeoutS + 60) * 1000, intervalMs: 200 },
  );
  const startedMs = Date.parse(run!.started_at!);
  // Other load on the host can keep it starved after the reap: then the gate starts the run once its wait is over.
  const why = startedMs - r.postedMs >= (scene.s.pressureWaitS - 2) * 1000 ? 'the pressure wait is over' : 'the pressure fell';
  mark(scene, 5, `re-test ${r.id} started: ${why} (PSI cpu some avg10 ${psiAtStart ?? '?'} %)`, startedMs);
  mark(scene, 5, `re-test ${r.id} done: outcome ${run!.outcome}, decision ${run!.decision}`, Date.parse(run!.finished_at!));
  return run!;
}

async function step6Recovered(scene: Scene): Promise<TelegramMessage> {
  const key = `proc_blocking:${scene.top}`;
  const tgRecovery = () => telegramOf(scene.stage).find((m) => m.action === 'RECOVERY' && m.key === key);
  const amResolved = () => amNotifications(scene.stage).find((n) => isAboutTop(scene)(n, 'resolved'));
  await waitFor(
    'step 6: RECOVERY in Telegram, and the alert resolved in Alertmanager (and its notification)',
    async () => tgRecovery() !== undefined && (await amHolds(scene)) === undefined && amResolved() !== undefined,
    { timeoutMs: NOTIFY_LIMIT_MS, intervalMs: 250 },
  );
  mark(scene, 6, 'RECOVERY proc_blocking delivered to Telegram', tgRecovery()!.atMs);
  mark(scene, 6, 'Alertmanager notifies resolved', amResolved()!.atMs);
  return tgRecovery()!;
}

/**
 * The replay with the watchdog: returns what each step showed and when, and leaves both
 * containers for the caller to remove (removeContainers). A step that never comes throws with
 * both containers' logs.
 */
export async function replayWithWatchdog(
  stage: Stage,
  settings: Omit<WatchdogSettings, 'port' | 'orchPort'>,
  retestTimeoutS: number,
): Promise<WatchdogReplay> {
  const s: WatchdogSettings = { ...settings, ...(await freePorts()) };
  await startWatchdog(stage, s);
  const base = { stage, s, api: watchdogApi(s.port), marks: [] as Mark[] };
  try {
    await startOrchestrator(stage, s.orchPort);
    const startedAtMs = Date.now();
    mark(
      base,
      null,
      `orchestrator up in its own PID namespace; agent run ${AGENT_RUN_ID} starts pytest with ${stage.workers} spinning workers`,
    );
    let ownerSeen: WireCandidate | null = null;
    const { top, workers } = await orphanTheRun(stage, async (pid) => void (ownerSeen = await ownerWhileAlive(base, pid, startedAtMs)));
    const scene: Scene = { ...base, top, workers };
    mark(scene, null, `agent killed with -9; pytest ${top} and ${workers.length} workers keep spinning`);

    const orphan = await step1OrphanSeen(scene);
    const { alert, amFiring } = await step2Alerted(scene);
    const retest = await step3RetestWaits(scene, retestTimeoutS);
    const watcher = retestWatcher(scene);
    const { survivors, reaped } = await step4Reaped(scene, watcher.look);
    const finalRun = await step5RetestDone(scene, retest, retestTimeoutS, watcher.look);
    const recovery = await step6Recovered(scene);
    const [queue, metrics, health] = await Promise.all([base.api.queue(), base.api.metrics(), base.api.healthz()]);
    mark(scene, 7, '/queue and /metrics read');
    return {
      settings: s,
      startedAtMs,
      marks: base.marks,
      topPid: top,
      workerPids: workers,
      ownerSeen,
      orphan,
      alert,
      amFiring,
      psiAtPost: retest.psiAtPost,
      waitingRun: retest.waitingRun,
      retestCandidates: watcher.seen,
      survivors,
      reaped,
      finalRun,
      recovery,
      telegram: telegramOf(stage),
      amNotifications: amNotifications(stage),
      queue,
      metrics,
      configWarnings: health.config_warnings,
    };
  } catch (err) {
    if (err instanceof Error) err.message += `\n${await containerLogs(stage)}`;
    throw err;
  }
}

/** The timeline as the bench and the test log print it: t+seconds from the orchestrator's start. */
export function formatTimeline(startedAtMs: number, marks: readonly Mark[]): string {
  return [...marks]
    .sort((a, b) => a.atMs - b.atMs)
    .map((m) => `  t+${((m.atMs - startedAtMs) / 1000).toFixed(1).padStart(5)} s  ${m.step === null ? '   ' : `[${m.step}]`}  ${m.what}`)
    .join('\n');
}
