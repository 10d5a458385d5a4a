import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { secretValuesOf } from '../src/config.js';
import { callTimeoutMs, describeHttpError, httpRequest, splitUrlCredentials, withTimeout } from '../src/http.js';
import { createLogger } from '../src/logger.js';
import { DepCollector } from '../src/sources/deps/collector.js';
import { OrchestratorCollector } from '../src/sources/orchestrator/collector.js';
import { refusedUrl, startHttpServer, type LoopbackServer } from './support/http-server.js';

const log = createLogger({ level: 'silent' });

// The reason lands in /signals, the log and alert details: an unmapped error message may quote the URL.
describe('describeHttpError', () => {
  it('maps a real refused connection to a short reason without the URL', async () => {
    const url = (await refusedUrl()).replace('://', '://u:refusedPassSecret@');
    const err = await httpRequest(`${url}/x?token=q`, { timeoutMs: 2000 }).catch((e: unknown) => e);
    expect(describeHttpError(err)).toBe('connection refused');
  });

  it('redacts credentials and token query values in any other message', () => {
    const text = describeHttpError(new Error('invalid response from http://orch:orchPassSecret@h:1/m?access_token=qTokSecret'));
    expect(text).not.toMatch(/orchPassSecret|qTokSecret/);
    expect(text).toContain('http://orch:***@h:1/m?access_token=***');
  });
});

// Incident guarded: user:pass@ in a URL was accepted and silently not sent; a peer behind basic auth
// answered 401 and raised a false orch_down / dep_down.
describe('URL credentials are sent as Authorization: Basic and never shown', () => {
  const peers: LoopbackServer[] = [];
  afterEach(async () => {
    for (const p of peers.splice(0)) await p.close();
  });

  async function basicAuthPeer(body: string): Promise<LoopbackServer & { seen: (string | undefined)[]; urls: string[] }> {
    const seen: (string | undefined)[] = [];
    const urls: string[] = [];
    const peer = await startHttpServer((req, res) => {
      seen.push(req.headers.authorization);
      urls.push(req.url ?? '');
      const ok = req.headers.authorization === `Basic ${Buffer.from('orch user:p@ss:w0rd').toString('base64')}`;
      res.statusCode = ok ? 200 : 401;
      res.end(ok ? body : 'unauthorized');
    });
    peers.push(peer);
    return Object.assign(peer, { seen, urls });
  }
  const withCredentials = (url: string) => url.replace('://', '://orch%20user:p%40ss%3Aw0rd@');

  it('the orchestrator envelope behind basic auth is fetched', async () => {
    const envelope = JSON.stringify({ schema_version: 1, generated_at: 1, queue: { counts: { failed: 0 } }, agents: [] });
    const peer = await basicAuthPeer(envelope);
    const collector = new OrchestratorCollector({
      metricsUrl: `${withCredentials(peer.url)}/envelope`,
      httpTimeoutS: 2,
      orchDownAfter: 1,
      agentHungS: 900,
      locale: 'en',
    });
    const [down] = await collector.collect({ abortSignal: new AbortController().signal, now: Date.now(), log });
    expect(down).toMatchObject({ key: 'orch_down', active: false });
    expect(peer.urls).toEqual(['/envelope']);
  });

  it('a dependency behind basic auth is up, and its detail shows neither the password nor a ?sig=', async () => {
    const peer = await basicAuthPeer('ok');
    const url = `${withCredentials(peer.url)}/health?sig=depSigSecret`;
    const collector = new DepCollector({ deps: [{ name: 'api', url }], httpTimeoutS: 2, depDownAfter: 1, locale: 'en' });
    const [dep] = await collector.collect({ abortSignal: new AbortController().signal, now: Date.now(), log });
    expect(dep).toMatchObject({ key: 'dep_down:api', active: false });
    expect(JSON.stringify(dep)).not.toMatch(/w0rd|depSigSecret/);
  });

  it('splitUrlCredentials leaves a URL without credentials alone', () => {
    expect(splitUrlCredentials('http://h:1/x?y=1')).toEqual({ url: 'http://h:1/x?y=1' });
    expect(splitUrlCredentials('http://u:p@h:1/x')).toEqual({
      url: 'http://h:1/x',
      authorization: `Basic ${Buffer.from('u:p').toString('base64')}`,
    });
  });

  // It threw URIError: at start for an Alertmanager URL (the app did not build), in every call for the others.
  it('a stray % in the password (not an escape) is sent as typed, and the Basic value sent is one the redactor knows', async () => {
    const basic = Buffer.from('orch:50%zz').toString('base64');
    expect(splitUrlCredentials('http://orch:50%zz@h:1/x')).toEqual({ url: 'http://h:1/x', authorization: `Basic ${basic}` });
    const peer = await startHttpServer((req, res) => res.writeHead(req.headers.authorization === `Basic ${basic}` ? 200 : 401).end());
    peers.push(peer);
    const url = peer.url.replace('://', '://orch:50%zz@');
    expect((await httpRequest(url, { timeoutMs: 5_000, maxBytes: 0 })).status).toBe(200);
    const config = {
      apiToken: '',
      tgBotToken: '',
      tgChatId: '',
      tgApiUrl: '',
      webhookSecret: '',
      webhookUrl: '',
      metricsUrl: '',
      deps: [],
    };
    expect(secretValuesOf({ ...config, alertmanagerUrls: [url] })).toContain(basic);
  });
});

describe('callTimeoutMs: the configured timeout, cut to the collector budget', () => {
  it('keeps the configured timeout while the budget allows it, and cuts it with a little slack otherwise', () => {
    expect(callTimeoutMs(5_000)).toBe(5_000);
    expect(callTimeoutMs(5_000, 10_000 + 20_000, 10_000)).toBe(5_000);
    expect(callTimeoutMs(5_000, 10_000 + 3_000, 10_000)).toBe(2_750);
    expect(callTimeoutMs(5_000, 10_000 + 100, 10_000)).toBe(90);
    expect(callTimeoutMs(5_000, 10_000 - 50, 10_000)).toBe(1);
  });
});

// Incident guarded: on Node 20 a timeout held only by AbortSignal.any was garbage collected, so a
// Docker socket that accepted and never answered held the container check forever.
describe('withTimeout', () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;

  it('fires after a garbage collection, with a TimeoutError, while the parent signal never aborts', async () => {
    const signal = withTimeout(new AbortController().signal, 150);
    const aborted = new Promise<unknown>((resolve) => signal.addEventListener('abort', () => resolve(signal.reason), { once: true }));
    // a collection once the call that made the timeout has returned, as in a real tick
    await new Promise((resolve) => setTimeout(resolve, 20));
    gc();
    const reason = await Promise.race([aborted, new Promise((resolve) => setTimeout(() => resolve('never fired'), 5_000))]);
    expect((reason as Error).name).toBe('TimeoutError');
  });

  it('aborts with the parent first when the parent aborts first', () => {
    const parent = new AbortController();
    const signal = withTimeout(parent.signal, 60_000);
    parent.abort(new Error('tick budget'));
    expect((signal.reason as Error).message).toBe('tick budget');
  });
});
