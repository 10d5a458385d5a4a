/**
 * The footprint reference (issue 13): a Fastify hello-world from the same node_modules, with the
 * same logger as the server (pino) and a JSON route, listening on WATCHDOG_PORT on 127.0.0.1.
 */
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.get('/healthz', async () => ({ status: 'ok' }));
app.get('/', async () => ({ hello: 'world' }));
const address = await app.listen({ host: '127.0.0.1', port: Number(process.env.WATCHDOG_PORT ?? 0) });
console.log(JSON.stringify({ msg: 'hello-world listening', address }));
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
