import { constants as osConstants } from 'node:os';
import { loadConfig } from '../config.js';
import { classify, compileLockPatterns, scanOutput } from '../merge-gate/classify.js';
import { callerEnv } from '../runner/account.js';
import { runProcess, type RunReport } from '../runner/run.js';
import { receiptToJson } from '../runner/tree-kill.js';
import type { CliIo } from './io.js';

export const RUN_USAGE = `usage: orch-watchdog run [--timeout DURATION] [--grace DURATION] [--json] [--] CMD [ARGS...]

Runs CMD (argv, no shell) as the leader of a new session. When DURATION passes, or this
command gets SIGINT/SIGTERM/SIGHUP, the WHOLE process tree gets SIGTERM, then SIGKILL after
the grace; descendants that called setsid or double-forked die too. Children left running
after CMD exits are killed the same way.

  --timeout DURATION  budget; default WATCHDOG_MERGE_RETEST_TIMEOUT_S (900)
  --grace DURATION    SIGTERM -> SIGKILL grace; default WATCHDOG_KILL_GRACE_S (5)
  --json              print one JSON object (returncode, signal, stdout, stderr, timed_out,
                      duration_s, outcome, strategy, receipt) instead of passing the output through

CMD gets this env without WATCHDOG_* (the watchdog's settings and secrets).

DURATION is a number of seconds with an optional suffix s, m, h or d (as timeout(1)).
Exit status: CMD's own; 128+N if CMD died of signal N; 124 on timeout; 125 for a bad
invocation; 126 if CMD cannot be executed; 127 if CMD is not found.
`;

const MAX_DURATION_S = 7 * 86_400;

/** "90", "1.5m", "2h" -> seconds; null when malformed. */
export function parseDurationS(text: string): number | null {
  const m = /^(\d+(?:\.\d*)?|\.\d+)([smhd]?)$/.exec(text.trim());
  return m ? Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86_400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'] : null;
}

/** Parses the flags; a string is the usage error to print. */
export function parseRunArgs(argv: string[]) {
  const args = { timeoutS: null as number | null, graceS: null as number | null, json: false, help: false, command: [] as string[] };
  let i = 0;
  // The first argument that is not an option starts the command: options after it are the command's.
  for (; i < argv.length && argv[i]!.startsWith('-'); i++) {
    const arg = argv[i]!;
    const flag = /^(--timeout|--grace)(?:=(.*))?$/.exec(arg);
    if (arg === '--') {
      i++;
      break;
    } else if (arg === '--json') args.json = true;
    else if (arg === '--help' || arg === '-h') return { ...args, help: true };
    else if (!flag) return `unknown option ${arg}`;
    else {
      const value = flag[2] ?? argv[++i];
      if (value === undefined) return `${flag[1]} needs a duration`;
      const seconds = parseDurationS(value);
      if (seconds === null) return `${flag[1]}: "${value}" is not a duration (seconds, or a number with s, m, h or d)`;
      if (flag[1] === '--timeout' && seconds <= 0) return '--timeout must be greater than 0';
      if (seconds > MAX_DURATION_S) return `${flag[1]} must be at most ${MAX_DURATION_S} s (7 d)`;
      args[flag[1] === '--timeout' ? 'timeoutS' : 'graceS'] = seconds;
    }
  }
  args.command = argv.slice(i);
  if (args.command.length === 0) return 'no command given (put it after --)';
  return args;
}

/** The shell convention (RUN_USAGE's exit status): 124 timeout, 125 our error, 126 cannot execute, 127 not found. */
function exitCodeOf({ result, spawnError }: RunReport): number {
  if (result.timed_out) return 124;
  if (spawnError === 'ENOENT') return 127;
  if (spawnError === 'EACCES' || spawnError === 'ENOTDIR') return 126;
  if (spawnError) return 125;
  if (result.signal) return 128 + (osConstants.signals[result.signal as NodeJS.Signals] ?? 0);
  return result.returncode ?? 125;
}

/** `orch-watchdog run`: the drop-in for timeout(1) that also kills the grandchildren. */
export async function runCommand(argv: string[], io: CliIo): Promise<number> {
  const parsed = parseRunArgs(argv);
  if (typeof parsed === 'string') {
    io.stderr(`orch-watchdog run: ${parsed}\n\n${RUN_USAGE}`);
    return 125;
  }
  if (parsed.help) {
    io.stdout(RUN_USAGE);
    return 0;
  }
  const { config, warnings } = loadConfig(io.env);
  for (const w of warnings) io.stderr(`orch-watchdog run: config ${w.key}: ${w.message}\n`);

  const abort = new AbortController();
  let received = null as NodeJS.Signals | null;
  const onSignal = (signal: NodeJS.Signals): void => {
    received ??= signal;
    abort.abort();
  };
  const forwarded: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of forwarded) io.signals.on(s, onSignal);
  let report: RunReport;
  try {
    report = await runProcess({
      command: parsed.command,
      env: callerEnv(io.env),
      timeoutMs: (parsed.timeoutS ?? config.mergeRetestTimeoutS) * 1000,
      graceMs: (parsed.graceS ?? config.killGraceS) * 1000,
      treeKill: config.treeKillEnabled,
      abortSignal: abort.signal,
      inheritStdio: !parsed.json,
    });
  } finally {
    for (const s of forwarded) io.signals.off(s, onSignal);
  }

  if (parsed.json) {
    const facts = scanOutput(report.result, compileLockPatterns(config.mergeLockPatterns).sources);
    const outcome = classify(report, { ...facts, holderFound: false });
    const json = { ...report.result, outcome, strategy: report.strategy, receipt: receiptToJson(report.receipt) };
    io.stdout(`${JSON.stringify(json)}\n`);
  } else if (report.spawnError) {
    io.stderr(report.result.stderr);
  }
  const { survivors } = report.receipt;
  if (survivors.length > 0) {
    io.stderr(
      `orch-watchdog run: ${survivors.length} process(es) survived the kill: ${survivors.map((s) => `${s.pid} (${s.comm})`).join(', ')}\n`,
    );
  }
  if (received) return 128 + (osConstants.signals[received] ?? 0);
  return exitCodeOf(report);
}
