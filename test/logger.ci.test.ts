import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { type Collector, makeSignal } from '../src/watchdog/signal.js';
import { manualClock, testApp } from './support/app.js';
import { startFakeTelegram, type FakeTelegram } from './support/fake-telegram.js';
import { startHttpServer, type LoopbackServer } from './support/http-server.js';

const API_TOKEN = 'apiTokenNeverLogged-9f8e7d';
const WRONG_TOKEN = 'guessedTokenNeverLogged-1a2b';
const WEBHOOK_SECRET = 'webhookSecretNeverLogged-5c6d';
const SECRETS = [
  API_TOKEN,
  WRONG_TOKEN,
  WEBHOOK_SECRET,
  'hookPassNeverLogged',
  'hookQueryNeverLogged',
  'amPassNeverLogged',
  'orchPassNeverLogged',
  'orchQueryNeverLogged',
  'urlQueryNeverLogged',
  'cmdPassNeverLogged',
];

let tg: FakeTelegram;
let hook: LoopbackServer;
let hookStatuses: number[];
let am: LoopbackServer;

beforeAll(async () => {
  tg = await startFakeTelegram();
  hookStatuses = [500];
  hook = await startHttpServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(hookStatuses.shift() ?? 204).end());
  });
  // a 400 is not retried, so the test does not wait out backoffs at close
  am = await startHttpServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"bad alert"}'));
  });
});
afterAll(async () => {
  await Promise.all([tg?.close(), hook?.close(), am?.close()]);
});

// Incident guarded: a token in a log line is a token in every log shipper and backup.
describe('tokens and secrets never reach the log, on failing and on succeeding calls', () => {
  it('API token, bot token, webhook secret, URL credentials and error messages stay out of every line', async () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'trace', destination: { write: (s: string) => void lines.push(s) } });
    const broken: Collector = {
      name: 'broken',
      collect: async () => {
        throw new Error('GET http://orch:orchPassNeverLogged@127.0.0.1:1/m?token=orchQueryNeverLogged failed');
      },
    };
    const proc: Collector = {
      name: 'proc',
      collect: async () => [
        makeSignal({
          family: 'host_mem',
          entity: null,
          active: true,
          severity: 'critical',
          title: 'hot',
          detail: 'pytest --password=cmdPassNeverLogged',
        }),
      ],
    };
    tg.script({ kind: 'bad_gateway' });
    const app = await testApp(
      {
        apiToken: API_TOKEN,
        notifiers: ['log', 'telegram', 'webhook', 'alertmanager'],
        tgApiUrl: tg.url,
        tgBotToken: tg.token,
        tgChatId: '-100777',
        webhookUrl: `${hook.url.replace('://', '://hook:hookPassNeverLogged@')}/hook?token=hookQueryNeverLogged`,
        webhookSecret: WEBHOOK_SECRET,
        alertmanagerUrls: [am.url.replace('://', '://am:amPassNeverLogged@')],
        httpTimeoutS: 1,
      },
      { collectors: [broken, proc], clock: manualClock(Date.now()), log },
    );
    const auth = (token: string) => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' });
    const retest = JSON.stringify({ repo: 'r', branch: 'b', cwd: tmpdir(), command: ['true'] });

    expect((await app.inject({ method: 'POST', url: '/merge-gate/retests', headers: auth(API_TOKEN), payload: retest })).statusCode).toBe(
      202,
    );
    expect((await app.inject({ method: 'POST', url: '/merge-gate/retests', headers: auth(WRONG_TOKEN), payload: retest })).statusCode).toBe(
      401,
    );
    expect(
      (await app.inject({ method: 'POST', url: '/merge-gate/retests', headers: auth(API_TOKEN), payload: '{not json' })).statusCode,
    ).toBe(400);
    const terminate = await app.inject({
      method: 'POST',
      url: '/proc/candidates/1/terminate?token=urlQueryNeverLogged',
      headers: { authorization: `Bearer ${API_TOKEN}` },
    });
    expect(terminate.statusCode).toBe(404);
    await app.ctx.mergeGate.idle();
    await app.ctx.watchdog.tick();
    await app.ctx.delivery.flush(3_000);
    await app.close();

    const all = lines.join('');
    // the paths ran: requests, a collector error, failed and retried deliveries, delivered ones
    expect(all).toContain('"method":"POST"');
    expect(all).toContain('/proc/candidates/1/terminate?token=***');
    expect(all).toContain('collector failed');
    expect(all).toMatch(/"integration":"telegram"[^\n]*notification failed; will retry/);
    expect(all).toMatch(/"integration":"webhook"[^\n]*notification failed; will retry/);
    expect(all).toMatch(/"integration":"alertmanager"[^\n]*notification rejected/);
    expect(all).toMatch(/"integration":"telegram"[^\n]*notification delivered/);
    expect(tg.delivered()).toHaveLength(1);
    for (const secret of [...SECRETS, tg.token, tg.token.split(':')[1] ?? tg.token]) expect(all).not.toContain(secret);
  });
});
