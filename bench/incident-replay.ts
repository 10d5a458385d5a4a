/**
 * The incident replayed twice on one private dockerd, and the two timelines printed side by side:
 * without the watchdog acting (the orphan spins on, the orchestrator's own
 * `subprocess.run(timeout=…)` re-test runs into the starvation, times out and rolls a good
 * branch back, nobody is told) and with it (test/incident/replay.ci.test.ts's scenario). The
 * re-test budget is the branch suite's own time alone, measured in the same run, times
 * BENCH_BUDGET_RATIO (1.5; the incident's was 600 s for a 516 s suite, 1.16).
 * Run with `bash bench/incident-replay.sh` (as root).
 */
import { removeContainers, setUpStage } from '../test/support/incident-cast.js';
import { measureBaseline, replayWithoutWatchdog, type ReferenceReplay } from '../test/support/incident-reference.js';
import { REPLAY_SETTINGS, formatTimeline, replayWithWatchdog, type Mark, type WatchdogReplay } from '../test/support/incident-replay.js';

const BUDGET_RATIO = Number(process.env.BENCH_BUDGET_RATIO ?? 1.5);

const secondsAfter = (startMs: number, m: Mark | undefined): string => (m ? `t+${((m.atMs - startMs) / 1000).toFixed(1)} s` : 'never');
const find = (marks: Mark[], step: number, what: RegExp) => marks.find((m) => m.step === step && what.test(m.what));
const killed = (marks: Mark[]) => marks.find((m) => m.what.startsWith('agent killed'));
/** A Telegram message as the chat shows it: tags dropped, entities decoded. */
const chatText = (html: string): string =>
  html
    .replace(/<[^>]+>/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');

function printSummary(ref: ReferenceReplay, replay: WatchdogReplay): void {
  const w = replay.marks;
  const posted = w.find((m) => m.what.includes(' posted '))!;
  const waitedS = (find(w, 5, /started/)!.atMs - posted.atMs) / 1000;
  const rows: [string, string, string][] = [
    ['agent killed', secondsAfter(ref.startedAtMs, killed(ref.marks)), secondsAfter(replay.startedAtMs, killed(w))],
    ['ALERT in Telegram', 'never', secondsAfter(replay.startedAtMs, find(w, 2, /Telegram/))],
    ['orphan ended', `never (${ref.stillSpinning} spinning)`, secondsAfter(replay.startedAtMs, find(w, 4, /orphan gone/))],
    [
      're-test',
      `${ref.retest.timed_out ? 'timeout' : 'done'} after ${ref.retest.duration_s.toFixed(1)} s`,
      `${replay.finalRun.outcome} in ${replay.finalRun.duration_s?.toFixed(1)} s, after ${waitedS.toFixed(1)} s waiting on CPU pressure`,
    ],
    ['decision', ref.retest.decision, replay.finalRun.decision ?? '?'],
    ['RECOVERY in Telegram', 'never', secondsAfter(replay.startedAtMs, find(w, 6, /Telegram/))],
    ['Telegram messages', String(ref.telegramMessages), String(replay.telegram.length)],
  ];
  console.log(`\n${'summary'.padEnd(24)}${'without'.padEnd(26)}with`);
  for (const [what, without, withIt] of rows) console.log(`  ${what.padEnd(22)}${without.padEnd(26)}${withIt}`);
  const ratio = (ref.starvedS / ref.baselineS).toFixed(1);
  console.log(`\nthe branch suite under the orphan: ${ref.starvedS.toFixed(1)} s against ${ref.baselineS.toFixed(1)} s alone (${ratio}x)`);
  const done = find(w, 5, /done/)!;
  console.log(`with the watchdog, from the re-test's post to its verdict: ${((done.atMs - posted.atMs) / 1000).toFixed(1)} s`);
}

/** What the on-call saw: the chat, the API's answers, the counters. */
function printOperatorView(replay: WatchdogReplay): void {
  console.log('\nTelegram, as the chat shows it:');
  for (const m of replay.telegram)
    console.log(`  [t+${((m.atMs - replay.startedAtMs) / 1000).toFixed(1)} s] ${chatText(m.text).replace(/\n/g, '\n      ')}`);
  const { top, workers } = replay.orphan;
  console.log(`\nGET /proc/candidates (step 1), the run's top and one of its ${workers.length} workers:`);
  for (const c of [top, workers[0]!]) console.log(`  ${JSON.stringify(c)}`);
  console.log(`\nGET /merge-gate/retests/:id (step 3): ${JSON.stringify(replay.waitingRun)}`);
  console.log(`GET /merge-gate/retests/:id (step 5): ${JSON.stringify(replay.finalRun)}`);
  console.log(`GET /queue (step 7): ${JSON.stringify(replay.queue)}`);
  const wanted =
    /^orch_watchdog_(merge_gate_runs_total\{outcome="(pass|timeout)"\}|proc_reaped_total|proc_blocking |alerts_total\{family="proc_(blocking|reaped)"|notifications_sent_total)/;
  console.log('GET /metrics (step 7):');
  for (const line of replay.metrics.split('\n')) if (wanted.test(line)) console.log(`  ${line}`);
}

async function main(): Promise<void> {
  const stage = await setUpStage();
  try {
    console.log(`${stage.imageNote}; ${stage.workers} orphan workers on ${stage.workers / 4} cores`);
    const baselineS = await measureBaseline(stage);
    const budgetS = Math.round(baselineS * BUDGET_RATIO * 10) / 10;
    console.log(`branch suite alone: ${baselineS.toFixed(2)} s; re-test budget ${budgetS} s (${BUDGET_RATIO}x)\n`);

    const ref = await replayWithoutWatchdog(stage, {
      budgetS,
      baselineS,
      postAfterS: REPLAY_SETTINGS.procAgeMin * 60,
      starvedAbovePct: REPLAY_SETTINGS.maxCpuPressure,
    });
    console.log('WITHOUT the watchdog (the reference):');
    console.log(formatTimeline(ref.startedAtMs, ref.marks));

    let replay: WatchdogReplay;
    try {
      replay = await replayWithWatchdog(stage, REPLAY_SETTINGS, budgetS);
    } finally {
      await removeContainers(stage);
    }
    console.log('\nWITH the watchdog:');
    console.log(formatTimeline(replay.startedAtMs, replay.marks));
    printSummary(ref, replay);
    printOperatorView(replay);
  } finally {
    await stage.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
