import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { testConfig } from '../support/app.js';
import { startFakeTelegram, type FakeTelegram } from '../support/fake-telegram.js';
import { startHttpServer, type LoopbackServer } from '../support/http-server.js';
import { capturedLog } from '../support/notify.js';

const TG_CHAT_ID = '-100987654321';
const API_TOKEN = 'api-token-SECRET-0001';
const HOOK_SECRET = 'whsec-SIGNING-000111';
const HOOK_PATH_TOKEN = 'WEBHOOKsecretSEGMENT123456';
const HOOK_QUERY_TOKEN = 'QUERYsecret789';

let peer: LoopbackServer;
let tg: FakeTelegram;
const base64 = (s: string): string => Buffer.from(s).toString('base64');

/**
 * Every peer here is hostile or careless: its error answer quotes back everything it was sent —
 * the path, the query, the Authorization header, the credentials it decodes from it.
 */
beforeAll(async () => {
  [peer, tg] = await Promise.all([
    startHttpServer((req, res) => {
      const auth = req.headers.authorization ?? '';
      const decoded = auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString() : '';
      // no label a name-based rule would catch: only hiding the values themselves can help
      const echo = `no route for ${req.method} ${req.url} from ${decoded} (${auth.slice(6)}) signed ${String(req.headers['x-watchdog-signature'])}`;
      res.writeHead(req.url?.startsWith('/hooks') ? 404 : req.url?.startsWith('/am') ? 400 : 500, { 'content-type': 'text/plain' });
      res.end(echo);
    }),
    startFakeTelegram(),
  ]);
});
afterAll(async () => {
  await Promise.all([peer?.close(), tg?.close()]);
});

// Incident guarded: a webhook receiver's 404 body held the URL path (a secret under the docs' own
// rule: a Slack hook's path is its token), and the log carried it.
describe('secrets a peer echoes back never reach the log, the state file or an answer', () => {
  it('webhook, Telegram, Alertmanager, the orchestrator and a dependency all quote their secrets back: none is kept', async () => {
    const hookUrl = `${peer.url.replace('://', '://hookuser:hookPASS42@')}/hooks/T00000000/B00000000/${HOOK_PATH_TOKEN}?key=${HOOK_QUERY_TOKEN}`;
    const amUrl = `${peer.url.replace('://', '://amuser:amPASS777@')}/am`;
    const secrets = [
      API_TOKEN,
      tg.token,
      tg.token.split(':')[1]!,
      TG_CHAT_ID,
      HOOK_SECRET,
      HOOK_PATH_TOKEN,
      HOOK_QUERY_TOKEN,
      'hookPASS42',
      base64('hookuser:hookPASS42'),
      'amPASS777',
      base64('amuser:amPASS777'),
      'orchPASS555',
      'ENVtoken321',
      'depPASS888',
      'DEPkey4242',
    ];
    const dir = mkdtempSync(join(tmpdir(), 'owd-echo-'));
    const stateFile = join(dir, 'state.json');
    const { log, lines } = capturedLog();
    tg.script({ kind: 'status', status: 400, description: `Bad Request: chat ${TG_CHAT_ID} not found for bot${tg.token}` });
    const app = await buildApp(
      testConfig({
        apiToken: API_TOKEN,
        notifiers: ['log', 'telegram', 'webhook', 'alertmanager'],
        tgApiUrl: tg.url,
        tgBotToken: tg.token,
        tgChatId: TG_CHAT_ID,
        webhookUrl: hookUrl,
        webhookSecret: HOOK_SECRET,
        alertmanagerUrls: [amUrl],
        metricsUrl: `${peer.url.replace('://', '://orch:orchPASS555@')}/envelope?token=ENVtoken321`,
        orchDownAfter: 1,
        deps: [{ name: 'api', url: `${peer.url.replace('://', '://dep:depPASS888@')}/health?apikey=DEPkey4242` }],
        depDownAfter: 1,
        stateFile,
      }),
      { log, hostname: 'echo-host' },
    );
    try {
      await app.ctx.watchdog.tick();
      await app.ctx.delivery.flush(10_000);
      // the peers did quote every secret they were sent
      expect(peer.received.some((r) => r.url.includes(HOOK_PATH_TOKEN))).toBe(true);
      expect(tg.received.length).toBeGreaterThan(0);
      expect(lines.filter((l) => l.includes('notification rejected')).length).toBeGreaterThanOrEqual(3);

      const answers = await Promise.all(
        ['/signals', '/healthz', '/alert-states', '/metrics', '/queue'].map(async (url) => (await app.inject(url)).body),
      );
      const signals = answers[0]!;
      expect(signals).toContain('dep_down');
      expect(signals).toContain('orch_down');
      await app.close();
      const kept = readFileSync(stateFile, 'utf8');
      const leaks = secrets.flatMap((secret) => [
        ...(lines.some((l) => l.includes(secret)) ? [`the log quotes ${secret}`] : []),
        ...(answers.some((a) => a.includes(secret)) ? [`an answer quotes ${secret}`] : []),
        ...(kept.includes(secret) ? [`the state file quotes ${secret}`] : []),
      ]);
      expect(leaks).toEqual([]);
    } finally {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
