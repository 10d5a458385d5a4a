// The server's entry (`node dist/src/server.js`): Node's compile cache first, then the server
// itself through a dynamic import, so that every module it loads (Fastify, zod, pino, the
// routes, ~1,000 files) compiles through the cache; a static import would be parsed before
// this line ran. src/server-main.ts is the server.
import { startCompileCache } from './compile-cache.js';

startCompileCache();
await import('./server-main.js');
