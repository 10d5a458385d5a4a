/**
 * The footprint reference (issue 13): a Fastify hello-world from the same node_modules, with a
 * JSON route, listening on WATCHDOG_PORT on 127.0.0.1. bench/api-variants.ts adds, one at a time,
 * what the server has and the hello-world has not: BENCH_HELLO_LIMITS=1 the server's socket
 * limits and connection cap (src/http-server.ts), BENCH_HELLO_LOGGER=1 the server's pino logger
 * at warn with GET request logging off (a child logger per request, as Fastify makes one).
 */
import Fastify, { LogController } from 'fastify';

// imported only for a variant: the plain reference loads nothing of ours (its RSS and start-up are figures' references)
const limits = process.env.BENCH_HELLO_LIMITS === '1' ? await import('../src/http-server.js') : null;
const logger = process.env.BENCH_HELLO_LOGGER === '1' ? await import('../src/logger.js') : null;
const app = Fastify({
  ...(logger
    ? {
        loggerInstance: logger.createLogger({ level: 'warn' }),
        logController: new LogController({ disableRequestLogging: (req) => req.method === 'GET' }),
      }
    : { logger: false }),
  ...(limits ? { serverFactory: limits.limitedServerFactory(1024, () => undefined) } : {}),
});
app.get('/healthz', async () => ({ status: 'ok' }));
app.get('/', async () => ({ hello: 'world' }));
const address = await app.listen({ host: '127.0.0.1', port: Number(process.env.WATCHDOG_PORT ?? 0) });
console.log(JSON.stringify({ msg: 'hello-world listening', address }));
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
