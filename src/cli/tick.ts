import { hostname } from 'node:os';
import pino from 'pino';
import { helpOrUnknown, type CliIo } from './io.js';
import { systemClock } from '../clock.js';
import { buildCollectors } from '../sources/index.js';
import { loadConfig, logConfigWarnings } from '../config.js';
import { createLogger } from '../logger.js';
import { AlertSink, createWatchdogMetrics, Watchdog } from '../watchdog/tick.js';

export const TICK_USAGE = `usage: orch-watchdog tick [--json]

Runs one watchdog tick with the WATCHDOG_* settings of this shell and prints its signals:
a table, or with --json one object {generated_at, failed_collectors, signals}. Nothing is
sent to a notifier and nothing is reaped. Logs go to stderr (LOG_LEVEL, default warn).
Exit status: 0 once the tick ran (a failed collector is listed, not fatal); 2 for a bad
invocation.
`;

/** `orch-watchdog tick [--json]`: one tick with the WATCHDOG_* settings of this shell; nothing is sent or reaped. */
export async function tickCommand(args: string[], io: CliIo): Promise<number> {
  const early = helpOrUnknown('tick', args, ['--json'], TICK_USAGE, io);
  if (early !== null) return early;
  const json = args.includes('--json');
  // Logs go to stderr so stdout stays machine-readable.
  const log = createLogger({ level: io.env.LOG_LEVEL ?? 'warn', destination: pino.destination(2) });
  const { config, warnings } = loadConfig(io.env);
  logConfigWarnings(log, warnings);
  const metrics = createWatchdogMetrics();
  const nothingSent = new AlertSink({ enqueue: () => undefined }, { clock: systemClock, log, metrics, hostname: hostname() });
  const watchdog = new Watchdog(config, { collectors: buildCollectors(config, {}), sink: nothingSent, metrics, clock: systemClock, log });
  const result = await watchdog.tick();
  if (json) {
    const body = {
      generated_at: new Date(result.at).toISOString(),
      failed_collectors: result.failed,
      signals: result.signals.map(({ cooldownS: _c, ...s }) => s),
    };
    io.stdout(`${JSON.stringify(body, null, 2)}\n`);
  } else {
    for (const s of result.signals)
      io.stdout(`${s.active ? 'ACTIVE  ' : 'ok      '} ${s.severity.padEnd(8)} ${s.key}  ${s.title}: ${s.detail}\n`);
    if (result.signals.length === 0) io.stdout('no signals (every source is off)\n');
    for (const f of result.failed) io.stdout(`FAILED   collector ${f}\n`);
  }
  return 0;
}
