import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { testConfig } from '../support/app.js';
import { buildApp } from '../../src/app.js';
import { startFakeTelegram } from '../support/fake-telegram.js';
import { startHttpServer } from '../support/http-server.js';
import { waitFor } from '../support/wait-for.js';
import { capturedLog } from '../support/notify.js';

/** `count` real processes whose program is `pytest`, children of one detached shell (one group to kill). */
const shells: ChildProcess[] = [];

async function spawnPytests(count: number): Promise<ChildProcess> {
  const script = `for i in $(seq ${count}); do (exec -a pytest sleep 600) & done; echo ready; wait`;
  const shell = spawn('bash', ['-c', script], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
  shells.push(shell);
  await once(shell.stdout, 'data');
  return shell;
}

// Also when a test times out (its finally may never run): no flood process outlives the file.
afterEach(() => {
  for (const shell of shells.splice(0)) killGroup(shell);
});

function killGroup(shell: ChildProcess): void {
  try {
    process.kill(-shell.pid!, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * Incident guarded: with 600 processes named pytest the Telegram queue dropped the critical
 * orch_down ALERT (the chat got only its RECOVERY, 9 minutes later); with 5,000 even `log`
 * dropped 4,500 ALERTs, and Telegram sent RECOVERED for processes it never alerted on.
 */
describe.each((process.env.FLOOD_COUNTS ?? '600').split(',').map(Number))(
  'a flood of %i blocking test processes during an orchestrator outage',
  (count) => {
    it('the critical orch_down ALERT reaches Telegram promptly and in order, no lone RECOVERY, the log keeps every alert', async () => {
      let isOrchUp = true;
      const envelope = await startHttpServer((req, res) => {
        // The orchestrator going away: connections are dropped, as a dead process would.
        if (!isOrchUp) return void req.socket.destroy();
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ schema_version: 1, generated_at: Date.now() / 1000, queue: { counts: { failed: 0 } }, agents: [] }));
      });
      const tg = await startFakeTelegram();
      const { log, records } = capturedLog();
      const shell = await spawnPytests(count);
      const config = testConfig({
        notifiers: ['log', 'telegram'],
        tgApiUrl: tg.url,
        tgBotToken: tg.token,
        tgChatId: '-100555',
        metricsUrl: `${envelope.url}/envelope`,
        orchDownAfter: 1,
        procEnabled: true,
        procAgeMin: 0,
        // Matches the program (pytest) and, until the proc branch lands, the command line "pytest 600".
        procPatterns: ['^pytest\\b'],
        tickS: 20,
        httpTimeoutS: 2,
      });
      const app = await buildApp(config, { log, hostname: 'flood-host' });
      try {
        const blocking = async (): Promise<number> =>
          (await app.ctx.watchdog.tick()).signals.filter((s) => s.family === 'proc_blocking' && s.active).length;
        await waitFor(`${count} blocking processes seen`, async () => (await blocking()) >= count, { timeoutMs: 60_000, intervalMs: 200 });

        isOrchUp = false;
        const outageAt = Date.now();
        await app.ctx.watchdog.tick();
        await waitFor(
          'the orch_down ALERT in the chat',
          () => tg.delivered().some((m) => m.text.includes('orch_down') && m.text.startsWith('🔴')),
          {
            // Generous for a loaded 2-core CI host; measured 1-3 s here with one message queued ahead at most.
            timeoutMs: 30_000,
            describe: () =>
              `chat: ${JSON.stringify(tg.received.map((m) => [m.status, m.text.slice(0, 80)]))}\nlog: ${JSON.stringify(
                records()
                  .filter((r) => /orch|dropped|failed/.test(String(r.msg)))
                  .slice(-5),
              )}`,
          },
        );
        const orchAlertDelayMs = Date.now() - outageAt;

        isOrchUp = true;
        await app.ctx.watchdog.tick();
        killGroup(shell);
        await waitFor('every flood process gone', async () => (await blocking()) === 0, { timeoutMs: 60_000, intervalMs: 200 });
        await app.ctx.delivery.flush(30_000);

        const chat = tg.delivered().map((m) => m.text);
        const orch = chat.filter((t) => t.includes('orch_down'));
        expect(orch.map((t) => t.split('\n')[0])).toEqual(['🔴 ALERT · critical', '🟢 RECOVERED · critical']);
        // The burst went as grouped messages: a handful, not thousands (Telegram allows ~1 a second).
        expect(chat.length).toBeLessThan(20);
        expect(
          chat.some((t) => new RegExp(`^${count}\\d* test processes blocking$`, 'm').test(t) || /\d+ test processes blocking/.test(t)),
        ).toBe(true);
        const alerted = new Set<string>();
        // A grouped ALERT ("612 test processes blocking", first 20 named) alerted every process of the burst.
        let groupedAlertSent = false;
        for (const t of chat) {
          if (t.startsWith('🔴') && /\d+ test processes blocking/.test(t)) groupedAlertSent = true;
          const key = /· (?:<code>)?([a-z_]+(?::\d+)?)(?:<\/code>)?$/.exec(t)?.[1];
          if (key && t.startsWith('🔴')) alerted.add(key);
          const coveredByGroup = groupedAlertSent && key?.startsWith('proc_blocking:') === true;
          if (key && t.startsWith('🟢')) expect(alerted.has(key) || coveredByGroup, `lone RECOVERY for ${key}`).toBe(true);
        }
        expect(chat.filter((t) => t.startsWith('🟢') && t.includes('no longer blocking')).length).toBeGreaterThanOrEqual(1);
        expect(orchAlertDelayMs).toBeLessThan(30_000);

        const logged = records().filter((r) => typeof r.msg === 'string' && r.msg.startsWith('ALERT proc_blocking:'));
        expect(logged.length).toBeGreaterThanOrEqual(count);
        expect(records().filter((r) => r.msg === 'notification dropped: queue full')).toEqual([]);
      } finally {
        killGroup(shell);
        await app.close();
        await Promise.all([tg.close(), envelope.close()]);
      }
    }, 420_000);
  },
);
