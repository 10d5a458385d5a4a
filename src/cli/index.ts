import { VERSION } from '../version.js';
import { processIo, type CliIo } from './io.js';

const USAGE = `usage: orch-watchdog <command> [--help]
       orch-watchdog --version

commands:
  tick [--json]       run one watchdog tick with the WATCHDOG_* settings, print the signals, exit
  run --timeout S [--grace S] [--json] -- CMD ARGS...
                      run CMD; on timeout kill its whole process tree (exit 124)
  check-config        validate every WATCHDOG_* variable; exit 1 listing each problem
  help                this text

Every command takes --help. The server itself is \`npm start\` (node dist/src/server.js).
`;

export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    // Sub-commands load their modules on demand, so `run` starts without the observer's code.
    case 'tick':
      return (await import('./tick.js')).tickCommand(rest, io);
    case 'check-config':
      return (await import('./check-config.js')).checkConfigCommand(rest, io);
    case 'run':
      // The command inherits the real stdin/stdout/stderr (as under timeout(1)); only env is injected.
      return (await import('./run.js')).runCommand(rest, io);
    case 'help':
    case '--help':
    case '-h':
      io.stdout(USAGE);
      return 0;
    case '--version':
    case '-V':
    case 'version':
      io.stdout(`orch-watchdog ${VERSION}\n`);
      return 0;
    default:
      io.stderr(command === undefined ? USAGE : `orch-watchdog: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}
