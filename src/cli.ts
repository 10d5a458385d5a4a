import pino from 'pino';
import { hostname } from 'node:os';
import { systemClock } from './clock.js';
import { buildCollectors } from './collectors/index.js';
import { loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { createCoreMetrics } from './metrics.js';
import { runCommand } from './merge-gate/run-command.js';
import type { Delivery } from './notify/delivery.js';
import { Watchdog } from './watchdog/tick.js';

const USAGE = `usage: orch-watchdog <command>

commands:
  tick [--json]       run one watchdog tick with the current environment, print the signals, exit
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
    case 'tick':
      return tickCommand(rest, io);
    case 'check-config':
      return checkConfigCommand(io);
    case 'run':
      // The command inherits the real stdin/stdout/stderr (as under timeout(1)); only env is injected.
      return runCommand(rest, { env: io.env });
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

async function tickCommand(args: string[], io: CliIo): Promise<number> {
  const unknown = args.filter((a) => a !== '--json');
  if (unknown.length > 0) {
    io.stderr(`orch-watchdog tick: unknown argument ${unknown[0]}\n`);
    return 2;
  }
  const json = args.includes('--json');
  // Logs go to stderr so stdout stays machine-readable.
  const log = createLogger({ level: io.env.LOG_LEVEL ?? 'warn', destination: pino.destination(2) });
  const { config, warnings } = loadConfig(io.env);
  for (const w of warnings) log.warn({ key: w.key }, `config: ${w.key} ${w.message}`);
  const noDelivery: Delivery = { enqueue: () => undefined, flush: async () => undefined };
  const watchdog = new Watchdog(
    { tickS: config.tickS, cooldownS: config.cooldownS, collectorTimeoutMs: config.httpTimeoutS * 1000 + 2000, hostname: hostname() },
    { collectors: buildCollectors(config, {}), delivery: noDelivery, metrics: createCoreMetrics(), clock: systemClock, log },
  );
  const result = await watchdog.tick();
  if (json) {
    const body = { generated_at: new Date(result.at).toISOString(), failed_collectors: result.failed, signals: result.signals.map(({ cooldownS: _c, ...s }) => s) };
    io.stdout(`${JSON.stringify(body, null, 2)}\n`);
  } else {
    for (const s of result.signals) io.stdout(`${s.active ? 'ACTIVE  ' : 'ok      '} ${s.severity.padEnd(8)} ${s.key}  ${s.title}: ${s.detail}\n`);
    if (result.signals.length === 0) io.stdout('no signals (every source is off)\n');
    for (const f of result.failed) io.stdout(`FAILED   collector ${f}\n`);
  }
  return 0;
}
