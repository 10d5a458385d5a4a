import { buildApp } from './app.js';
import { loadConfig } from './config.js';
import { createLogger } from './logger.js';

/** The only file that listens. SIGTERM/SIGINT: stop ticking, finish the tick, close, exit 0 within 10 s. */
async function main(): Promise<void> {
  const log = createLogger();
  const { config, warnings } = loadConfig(process.env);
  for (const w of warnings) log.warn({ key: w.key, value: w.value }, `config: ${w.key} ${w.message}`);
  const app = await buildApp(config, { log, configWarnings: warnings });

  let closing = false;
  const shutdown = (signal: string): void => {
    if (closing) return;
    closing = true;
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      log.error('shutdown took longer than 10 s; exiting');
      process.exit(1);
    }, 10_000);
    force.unref();
    app.close().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, 'error while closing');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  try {
    const address = await app.listen({ host: config.host, port: config.port });
    log.info({ address, tick_s: config.tickS, notifiers: config.notifiers }, 'orch-watchdog listening');
  } catch (err) {
    log.fatal({ err }, `cannot listen on ${config.host}:${config.port}`);
    process.exit(1);
  }
  app.ctx.watchdog.start();
}

void main();
