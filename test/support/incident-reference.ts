import {
  AGENT_RUN_ID,
  FIXTURES,
  ORCH_CONTAINER,
  cpuSomeAvg10,
  freePorts,
  removeContainers,
  startOrchestrator,
  type Stage,
} from './incident-cast.js';
import { mark, orphanTheRun, type Mark } from './incident-replay.js';
import { PYTHON_BASE_IMAGE } from './python-base-image.js';
import { markedPids } from './pytest-suite.js';
import { waitFor } from './wait-for.js';

/**
 * The incident with nothing acting, for bench/incident-replay.sh to set beside the replay with
 * the watchdog: the orphan spins on, and the orchestrator's re-test is the old
 * `subprocess.run(timeout=…)` (test/fixtures/incident/legacy_retest.py), which reads a timeout
 * as a red branch.
 */

export interface ReferenceOptions {
  budgetS: number;
  baselineS: number;
  /** When the re-test is posted, from the orchestrator's start: as late as the watchdog's alert. */
  postAfterS: number;
  /** ... and only once the orphan starves the host this much (PSI cpu some avg10, %). */
  starvedAbovePct: number;
}

export interface ReferenceReplay extends ReferenceOptions {
  startedAtMs: number;
  marks: Mark[];
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
export async function replayWithoutWatchdog(stage: Stage, o: ReferenceOptions): Promise<ReferenceReplay> {
  const { orchPort } = await freePorts();
  const before = stage.telegram.received.length;
  const scene = { marks: [] as Mark[] };
  await startOrchestrator(stage, orchPort);
  const startedAtMs = Date.now();
  mark(scene, null, `orchestrator up; agent run ${AGENT_RUN_ID} starts pytest with ${stage.workers} spinning workers`);
  const { top, workers } = await orphanTheRun(stage, () => Promise.resolve());
  mark(scene, null, `agent killed with -9; pytest ${top} and ${workers.length} workers keep spinning`);
  await waitFor(
    `${o.postAfterS} s into the run, PSI cpu some avg10 over ${o.starvedAbovePct} %`,
    () => Date.now() >= startedAtMs + o.postAfterS * 1000 && cpuSomeAvg10() > o.starvedAbovePct,
    { timeoutMs: 120_000, intervalMs: 250 },
  );
  const psiAtRetest = cpuSomeAvg10();
  mark(scene, null, `re-test started the old way: subprocess.run(timeout=${o.budgetS}) (PSI cpu some avg10 ${psiAtRetest} %)`);
  const retest = await legacyRetest(stage, ['exec', ORCH_CONTAINER], o.budgetS);
  mark(scene, 5, `re-test ${retest.timed_out ? 'timed out' : 'finished'} after ${retest.duration_s} s: decision ${retest.decision}`);
  const unbounded = await legacyRetest(stage, ['exec', ORCH_CONTAINER], 600);
  mark(scene, null, `the same suite, unbounded, under the orphan: ${unbounded.duration_s} s (${o.baselineS} s alone)`);
  const stillSpinning = [top, ...workers].filter((pid) => markedPids(stage.marker).includes(pid)).length;
  const telegramMessages = stage.telegram.received.length - before;
  mark(scene, null, `${stillSpinning} orphan processes still spinning; Telegram messages: ${telegramMessages}`);
  await removeContainers(stage);
  return { startedAtMs, marks: scene.marks, ...o, psiAtRetest, retest, starvedS: unbounded.duration_s, stillSpinning, telegramMessages };
}
