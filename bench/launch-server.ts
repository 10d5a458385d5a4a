import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { freePort } from './free-port.js';
import { get } from './http-get.js';
import { launchGroup } from './process-group.js';

/** The node flags `npm start` adds before dist/src/server.js (none by default). */
export function launchFlags(): string[] {
  const start = (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> }).scripts.start ?? '';
  return (/node ((?:--\S+ )*)dist\/src\/server\.js/.exec(start)?.[1] ?? '').trim().split(' ').filter(Boolean);
}

/** `node args` on a free port in its own process group, once its /healthz answers 200 (within 60 s). */
export async function startHealthy(args: string[], env: Record<string, string>): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const child = launchGroup('node', args, { LOG_LEVEL: 'warn', WATCHDOG_PORT: String(port), ...env });
  child.stdout!.resume();
  for (let i = 0; i < 6000; i++) {
    const status = await get(port, '/healthz', 1000).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return { child, port };
    await delay(10);
  }
  throw new Error(`node ${args.join(' ')}: no /healthz 200 within 60 s`);
}
