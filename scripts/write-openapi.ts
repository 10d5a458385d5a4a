import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';

/** The OpenAPI document as the server serves it, with defaults for every key (stable output). */
export async function renderOpenApi(): Promise<string> {
  const app = await buildApp(loadConfig({}).config, { log: createLogger({ level: 'silent' }), hostname: 'openapi' });
  await app.ready();
  const doc = app.swagger();
  await app.close();
  return `${JSON.stringify(doc, null, 2)}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const target = new URL('../../openapi/openapi.json', import.meta.url);
  writeFileSync(target, await renderOpenApi());
  console.log(`wrote ${fileURLToPath(target)}`);
}
