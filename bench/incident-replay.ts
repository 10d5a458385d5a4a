/**
 * The incident replayed twice on one private dockerd, and the two timelines printed side by side:
 * without the watchdog acting (the orphan spins on, the orchestrator's own
 * `subprocess.run(timeout=…)` re-test runs into the starvation, times out and rolls a good
 * branch back, nobody is told) and with it (test/incident/replay.test.ts's scenario). The
 * re-test budget is the branch suite's own time alone, measured in the same run, times
 * BENCH_BUDGET_RATIO (1.5; the incident's was 600 s for a 516 s suite, 1.16).
 * Run with `bash bench/incident-replay.sh` (as root).
 */
import { removeContainers, setUpStage } from '../test/support/incident-cast.js';
import { measureBaseline, replayWithoutWatchdog } from '../test/support/incident-reference.js';
import { REPLAY_SETTINGS, formatTimeline, replayWithWatchdog, type Mark } from '../test/support/incident-replay.js';

const BUDGET_RATIO = Number(process.env.BENCH_BUDGET_RATIO ?? 1.5);

const secondsAfter = (startMs: number, m: Mark | undefined): string => (m ? `t+${((m.atMs - startMs) / 1000).toFixed(1)} s` : 'never');

async function main(): Promise<void> {
  const stage = await setUpStage();
  try {
    console.log(`${stage.imageNote}; ${stage.workers} orphan workers on ${stage.workers / 4} cores`);
    const baselineS = await measureBaseline(stage);
    const budgetS = Math.round(baselineS * BUDGET_RATIO * 10) / 10;
    console.log(`branch suite alone: ${baselineS} s; re-test budget ${budgetS} s (${BUDGET_RATIO}x)\n`);

    const ref = await replayWithoutWatchdog(stage, {
      budgetS,
      baselineS,
      postAfterS: REPLAY_SETTINGS.procAgeMin * 60,
      starvedAbovePct: REPLAY_SETTINGS.maxCpuPressure,
    });
    console.log('WITHOUT the watchdog (the reference):');
    console.log(formatTimeline(ref.startedAtMs, ref.marks));

    let replay;
    try {
      replay = await replayWithWatchdog(stage, REPLAY_SETTINGS, budgetS);
    } finally {
      await removeContainers(stage);
    }
    console.log('\nWITH the watchdog:');
    console.log(formatTimeline(replay.startedAtMs, replay.marks));

    const find = (marks: Mark[], step: number, what: RegExp) => marks.find((m) => m.step === step && what.test(m.what));
    const killed = (marks: Mark[]) => marks.find((m) => m.what.startsWith('agent killed'));
    const w = replay.marks;
    const posted = w.find((m) => m.what.includes(' posted '))!;
    const started = find(w, 5, /started/)!;
    const done = find(w, 5, /done/)!;
    console.log('\nsummary                              without            with');
    console.log(
      `  agent killed                       ${secondsAfter(ref.startedAtMs, killed(ref.marks)).padEnd(18)} ${secondsAfter(replay.startedAtMs, killed(w))}`,
    );
    console.log(`  ALERT in Telegram                  ${'never'.padEnd(18)} ${secondsAfter(replay.startedAtMs, find(w, 2, /Telegram/))}`);
    console.log(
      `  orphan ended                       ${`never (${ref.stillSpinning} spinning)`.padEnd(18)} ${secondsAfter(replay.startedAtMs, find(w, 4, /orphan gone/))}`,
    );
    console.log(
      `  re-test                            ${`${ref.retest.timed_out ? 'timeout' : 'done'} ${ref.retest.duration_s} s`.padEnd(18)} ${replay.finalRun.outcome} ${replay.finalRun.duration_s?.toFixed(1)} s (waited ${((started.atMs - posted.atMs) / 1000).toFixed(1)} s on CPU pressure)`,
    );
    console.log(`  decision                           ${ref.retest.decision.padEnd(18)} ${replay.finalRun.decision}`);
    console.log(`  RECOVERY in Telegram               ${'never'.padEnd(18)} ${secondsAfter(replay.startedAtMs, find(w, 6, /Telegram/))}`);
    console.log(`  Telegram messages                  ${String(ref.telegramMessages).padEnd(18)} ${replay.telegram.length}`);
    console.log(
      `\nthe branch suite under the orphan: ${ref.starvedS} s against ${baselineS} s alone (${(ref.starvedS / baselineS).toFixed(1)}x); PSI cpu some avg10 ${ref.psiAtRetest} %`,
    );
    console.log(`with the watchdog, from post to verdict: ${((done.atMs - posted.atMs) / 1000).toFixed(1)} s`);
  } finally {
    await stage.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
