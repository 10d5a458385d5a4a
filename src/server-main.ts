import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { buildApp } from './app.js';
import { checkPrivileges, defaultValue, loadConfig, logConfigWarnings, type Config, type ConfigWarning } from './config.js';
import { createLogger } from './logger.js';
import { StateLocked } from './state/state-store.js';

// Exit codes (README "Run", sysexits.h): another watchdog holds WATCHDOG_STATE_FILE's lock; the file does not hold the final state.
const EXIT_STATE_LOCKED = 75;
const EXIT_STATE_UNSAVED = 74;

/** The only file that listens. SIGTERM/SIGINT: stop ticking, finish the tick, close, exit within 10 s. */
async function main(): Promise<void> {
  // Synchronous writes: the last lines before an exit (or a forced kill) are never lost.
  const log = createLogger({ destination: pino.destination({ dest: 1, sync: true }) });
  const { config, warnings } = loadConfig(process.env);
  warnings.push(...checkPrivileges(config));
  logConfigWarnings(log, warnings);
  const app = await buildApp(config, { log, configWarnings: warnings }).catch((err: unknown) => {
    if (!(err instanceof StateLocked)) throw err;
    log.fatal({ path: err.path, holder_pid: err.holderPid }, err.message);
    return process.exit(EXIT_STATE_LOCKED);
  });

  let closing = false;
  const shutdown = (signal: string): void => {
    if (closing) return;
    closing = true;
    log.info({ signal }, 'shutting down');
    setTimeout(() => {
      log.error('shutdown took longer than 10 s; killing the process');
      // process.exit() itself can hang on a worker thread stuck in a /proc read; SIGKILL cannot.
      process.kill(process.pid, 'SIGKILL');
    }, 10_000).unref();
    app.close().then(
      () => {
        log.info('stopped');
        // Node's exit joins every thread, and one blocked in a /proc read of a hung process (or a PSI file) never returns.
        if (app.ctx.proc.worker.hasStuckThread || app.ctx.mergeGate.pressure.isStuck === true) process.kill(process.pid, 'SIGKILL');
        process.exit(app.ctx.state && !app.ctx.state.health().ok ? EXIT_STATE_UNSAVED : 0);
      },
      (err: unknown) => {
        log.error({ err }, 'error while closing');
        process.exit(1);
      },
    );
  };
  for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => shutdown(signal));

  const address = await listen(app, config, warnings, log).catch((err: unknown) => {
    log.fatal({ err }, `cannot listen on ${config.host}:${config.port}`);
    return process.exit(1);
  });
  log.info({ address, tick_s: config.tickS, notifiers: config.notifiers }, 'orch-watchdog listening');
  app.ctx.watchdog.start();
}

/** Errors that say the address is not this host's (a name that does not resolve, an IP of another host). */
const FOREIGN_HOST_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NODATA', 'EADDRNOTAVAIL']);

/** A WATCHDOG_HOST the server cannot listen on falls back to the default, like any bad value, instead of ending the server. */
async function listen(app: FastifyInstance, config: Config, warnings: ConfigWarning[], log: Logger): Promise<string> {
  try {
    return await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    const fallback = defaultValue('WATCHDOG_HOST');
    if (!FOREIGN_HOST_CODES.has(code) || config.host === fallback) throw err;
    const warning = { key: 'WATCHDOG_HOST', value: config.host, message: `cannot listen on it (${code}); using the default "${fallback}"` };
    warnings.push(warning);
    logConfigWarnings(log, [warning]);
    return app.listen({ host: fallback, port: config.port });
  }
}

void main();
