// The server's entry: Node's compile cache first, then the server (src/server-main.ts) through a dynamic import, so that every
// module it loads compiles through the cache; a static import would be parsed before this line ran.
import { startCompileCache } from './compile-cache.js';

startCompileCache();
await import('./server-main.js');
