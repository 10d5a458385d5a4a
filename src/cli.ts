import { loadConfig } from './config.js';

const USAGE = `usage: orch-watchdog <command>

commands:
  tick [--json]       run one watchdog tick with the WATCHDOG_* settings, print the signals, exit
  run --timeout S [--grace S] [--json] -- CMD ARGS...
                      run CMD; on timeout kill its whole process tree (exit 124)
  check-config        validate every WATCHDOG_* variable; exit 1 listing each problem
  help                this text
`;

export interface CliIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  env: NodeJS.ProcessEnv;
}

const defaultIo: CliIo = {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  env: process.env,
};

export async function main(argv: string[], io: CliIo = defaultIo): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    // Sub-commands load their modules on demand, so `run` starts without the observer's code.
    case 'tick':
      return (await import('./tick-command.js')).tickCommand(rest, io);
    case 'check-config':
      return checkConfigCommand(io);
    case 'run':
      // The command inherits the real stdin/stdout/stderr (as under timeout(1)); only env is injected.
      return (await import('./merge-gate/run-command.js')).runCommand(rest, { env: io.env });
    case 'help':
    case '--help':
    case '-h':
      io.stdout(USAGE);
      return 0;
    default:
      io.stderr(command === undefined ? USAGE : `orch-watchdog: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

function checkConfigCommand(io: CliIo): number {
  const { warnings } = loadConfig(io.env);
  if (warnings.length === 0) {
    io.stdout('configuration OK\n');
    return 0;
  }
  io.stderr(`${warnings.length} configuration problem(s):\n`);
  for (const w of warnings) io.stderr(`  ${w.key}=${JSON.stringify(w.value)}: ${w.message}\n`);
  return 1;
}
