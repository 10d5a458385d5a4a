import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_RUN_ID, AGENT_TASK, removeContainers, setUpStage, type Stage } from '../support/incident-cast.js';
import { markedPids } from '../support/pytest-suite.js';
import {
  REPLAY_SETTINGS as SETTINGS,
  formatTimeline,
  replayWithWatchdog,
  type Mark,
  type WatchdogReplay,
} from '../support/incident-replay.js';

/**
 * The incident behind the project, replayed end to end in the shape users deploy: an agent in
 * the orchestrator's own container runs a real pytest whose workers spin the CPU; the agent is
 * killed with -9 and the run is orphaned; the watchdog, from this repository's image with the
 * compose file's pid: host, must see it (with its owner), alert Telegram and Alertmanager, hold
 * a re-test while the CPU is starved instead of letting it time out, reap the orphan, let the
 * re-test pass (no rollback), recover, and count it all.
 * The timing is REPLAY_SETTINGS'; bench/incident-replay.sh runs the same scenario and prints it.
 */

const RETEST_TIMEOUT_S = 120;

let stage: Stage;
let replay: WatchdogReplay;

beforeAll(async () => {
  stage = await setUpStage();
  console.log(stage.imageNote);
  try {
    replay = await replayWithWatchdog(stage, SETTINGS, RETEST_TIMEOUT_S);
  } finally {
    await removeContainers(stage);
  }
  console.log(`incident replay timeline:\n${formatTimeline(replay.startedAtMs, replay.marks)}`);
}, 1_800_000);

afterAll(async () => {
  await stage?.close();
}, 300_000);

const at = (step: number, what: RegExp): number => {
  const m = replay.marks.find((x: Mark) => x.step === step && what.test(x.what));
  if (!m) throw new Error(`no mark for step ${step} ${what}: ${JSON.stringify(replay.marks)}`);
  return m.atMs;
};

/** One sample of the Prometheus text exposition, or undefined. */
function sample(name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of replay.metrics.split('\n')) {
    const m = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (m?.[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

describe('the incident, replayed end to end through the image, the orchestrator in its own container', () => {
  it('1. the orphaned run is seen, with the agent that started it as owner and its workers as its leftovers', () => {
    const agent = { kind: 'agent', run_id: AGENT_RUN_ID, task: AGENT_TASK, stage: 'tester' };
    // The owner is learnt while the agent lives: its pid in the envelope is its own container's.
    expect(replay.ownerSeen, 'the run was never listed with its agent as owner while the agent was alive').not.toBeNull();
    expect(replay.ownerSeen).toMatchObject({ pid: replay.topPid, orphaned: false, owner: agent });
    expect(replay.orphan.top).toMatchObject({ pid: replay.topPid, run_pid: replay.topPid, orphaned: true, owner: agent });
    expect(replay.orphan.top.cmdline).toContain(`test_spin_${stage.marker}.py`);
    expect(replay.workerPids).toHaveLength(stage.workers);
    expect(replay.orphan.workers.map((w) => w.pid).sort()).toEqual([...replay.workerPids].sort());
    for (const w of replay.orphan.workers) expect(w).toMatchObject({ run_pid: replay.topPid, owner: agent });
  });

  it('2. the proc_blocking ALERT reaches Telegram and Alertmanager, naming the orphan, its gone agent and the processes to stop', () => {
    const text = replay.alert.text;
    expect(text).toMatch(/orphaned \(docker-init \d+\)/);
    expect(text).toContain(`started by agent run ${AGENT_RUN_ID}, ${AGENT_TASK}, tester, which is gone`);
    expect(text).toContain(`It has ${stage.workers} live descendant process(es)`);
    const pids = [replay.topPid, ...replay.workerPids].sort((a, b) => a - b);
    expect(text).toContain(`kill -TERM ${pids.join(' ')}`);
    expect(replay.amFiring.labels).toMatchObject({ alertname: 'proc_blocking', entity: String(replay.topPid) });
    expect(replay.amFiring.annotations.description).toContain('orphaned');
  });

  it('3. a re-test posted while the orphan starves the CPU waits on CPU pressure instead of timing out', () => {
    expect(replay.psiAtPost).toBeGreaterThan(SETTINGS.maxCpuPressure);
    expect(replay.waitingRun).toMatchObject({ status: 'queued', waiting: 'cpu_pressure', attempt: 1 });
  });

  it('4. the reaper ends the orphan, and nothing of it survives: not pytest, not one worker', () => {
    expect(replay.survivors).toEqual([]);
    const alive = markedPids(stage.marker);
    for (const pid of [replay.topPid, ...replay.workerPids]) expect(alive).not.toContain(pid);
    expect(replay.reaped.text).toContain('Terminated by the reaper (WATCHDOG_PROC_REAP_ENABLED)');
    for (const pid of [replay.topPid, ...replay.workerPids]) expect(replay.reaped.text).toMatch(new RegExp(`\\b${pid}\\b`));
  });

  it('5. the re-test runs once the orphan is gone and passes: merge, nothing rolled back, never alerted as an orphan', () => {
    expect(replay.finalRun).toMatchObject({ status: 'done', outcome: 'pass', decision: 'merge', attempt: 1 });
    // The gate's own run is its owner's while inside its timeout: listed, never blocking.
    expect(replay.retestCandidates.length, 'the running re-test never showed in /proc/candidates').toBeGreaterThan(0);
    for (const c of replay.retestCandidates)
      expect(c).toMatchObject({ owner: { kind: 'retest', id: replay.finalRun.id }, blocking: false });
    const alerted = replay.telegram.filter((m) => m.key.startsWith('proc_blocking:') && m.action === 'ALERT').map((m) => m.key);
    expect(alerted).toEqual([`proc_blocking:${replay.topPid}`]);
  });

  it('6. the RECOVERY arrives in Telegram, and Alertmanager resolves the alert', () => {
    expect(replay.recovery.text).toContain(`Test process ${replay.topPid} is gone`);
    const resolved = replay.amNotifications.filter((n) => n.status === 'resolved');
    expect(
      resolved.some((n) => n.alerts.some((a) => a.labels.alertname === 'proc_blocking' && a.labels.entity === String(replay.topPid))),
    ).toBe(true);
  });

  it('7. /queue and /metrics count it all: one re-test passed, one run reaped, one ALERT and one RECOVERY sent to each peer', () => {
    expect(replay.queue.merge_gate).toMatchObject({
      runs_total: 1,
      running: 0,
      queued: 0,
      outcomes: { pass: 1, red: 0, timeout: 0, infra: 0, other: 0 },
      infra_requeues: 0,
      infra_exhausted: 0,
    });
    expect(sample('orch_watchdog_merge_gate_runs_total', { outcome: 'pass' })).toBe(1);
    expect(sample('orch_watchdog_merge_gate_runs_total', { outcome: 'timeout' })).toBe(0);
    expect(sample('orch_watchdog_proc_reaped_total', { trigger: 'reaper' })).toBe(1);
    expect(sample('orch_watchdog_proc_blocking')).toBe(0);
    expect(sample('orch_watchdog_alerts_total', { family: 'proc_blocking', action: 'ALERT' })).toBe(1);
    expect(sample('orch_watchdog_alerts_total', { family: 'proc_blocking', action: 'RECOVERY' })).toBe(1);
    expect(sample('orch_watchdog_alerts_total', { family: 'proc_reaped', action: 'ALERT' })).toBe(1);
    for (const integration of ['telegram', 'alertmanager']) {
      expect(sample('orch_watchdog_notifications_sent_total', { integration, action: 'ALERT' })).toBeGreaterThanOrEqual(2);
      expect(sample('orch_watchdog_notifications_sent_total', { integration, action: 'RECOVERY' })).toBeGreaterThanOrEqual(1);
    }
    expect(replay.configWarnings).toEqual([]);
  });

  it('happens in the order of the incident, each step stamped by the part that did it', () => {
    const killed = replay.marks.find((m) => m.what.startsWith('agent killed'))!.atMs;
    const posted = replay.marks.find((m) => m.what.includes(' posted '))!.atMs;
    // Seen gone by our /proc poll or announced by the reaper, whichever came first: the orphan was dead by then.
    const orphanGone = Math.min(at(4, /orphan gone/), at(4, /proc_reaped/));
    const started = at(5, /started/);
    expect(at(1, /orphaned run seen/)).toBeGreaterThan(killed);
    expect(at(2, /Telegram/)).toBeGreaterThanOrEqual(at(1, /orphaned run seen/));
    expect(posted).toBeGreaterThan(at(2, /Telegram/));
    expect(at(3, /waiting/)).toBeGreaterThan(posted);
    expect(orphanGone).toBeGreaterThan(at(3, /waiting/));
    // The re-test started only once the orphan was gone, never into the starvation (1 s of slack: the announce trails the death).
    expect(started).toBeGreaterThanOrEqual(orphanGone - 1_000);
    expect(at(5, /done/)).toBeGreaterThan(started);
    expect(at(6, /Telegram/)).toBeGreaterThan(at(2, /Telegram/));
    expect(at(6, /Telegram/)).toBeGreaterThanOrEqual(at(4, /proc_reaped/));
    expect(at(7, /queue/)).toBeGreaterThanOrEqual(Math.max(at(5, /done/), at(6, /Alertmanager/)));
  });
});
