import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { answer, refusedUrl, startHttpServer, startSilentPeer, type LoopbackServer, type SilentPeer } from './http-server.js';

// The fake peers other tests build on: each canned failure mode must really behave as its name says.
let peer: LoopbackServer | SilentPeer | undefined;
afterEach(async () => {
  await peer?.close();
  peer = undefined;
});

describe('the loopback peer records what it was sent', () => {
  it('gives an async handler the raw body and keeps every request with headers, per-path hits included', async () => {
    const server = await startHttpServer(async (_req, res, body) => {
      res.end(`echo:${await body}`);
    });
    peer = server;
    const answered = await fetch(`${server.url}/hook?x=1`, { method: 'POST', body: '{"a":1}', headers: { 'x-sig': 'abc' } });
    expect(await answered.text()).toBe('echo:{"a":1}');
    expect(server.received).toMatchObject([{ method: 'POST', url: '/hook?x=1', body: '{"a":1}', headers: { 'x-sig': 'abc' } }]);
    expect(server.hits('/hook?x=1')).toBe(1);
    expect(server.requests).toBe(1);
  });

  it('a handler that throws answers 500 instead of leaving the client hanging', async () => {
    const server = await startHttpServer(() => {
      throw new Error('bad fixture');
    });
    peer = server;
    const answered = await fetch(server.url);
    expect(answered.status).toBe(500);
    expect(await answered.text()).toContain('bad fixture');
  });
});

describe('canned failure modes', () => {
  it('hang: the request arrives and is never answered, until close() drops it', async () => {
    const server = await startHttpServer(answer.hang());
    peer = server;
    const error = await fetch(server.url, { signal: AbortSignal.timeout(200) }).catch((err: unknown) => err);
    expect((error as Error).name).toBe('TimeoutError');
    expect(server.requests).toBe(1);
  });

  it('trickle: headers at once, then one chunk per interval, and no end unless asked', async () => {
    const server = await startHttpServer(answer.trickle(['{"a":', '1}'], 20, { end: true }));
    peer = server;
    const answered = await fetch(server.url);
    expect(answered.status).toBe(200);
    expect(await answered.text()).toBe('{"a":1}');
  });

  it('redirect, status and script answer as told; routes sends unknown paths to 404', async () => {
    const server = await startHttpServer(
      answer.routes({
        '/moved': answer.redirect('/elsewhere', 301),
        '/flaky': answer.script([answer.status(503, 'busy', { 'retry-after': '2' })], answer.json({ ok: true })),
      }),
    );
    peer = server;
    const moved = await fetch(`${server.url}/moved`, { redirect: 'manual' });
    expect([moved.status, moved.headers.get('location')]).toEqual([301, '/elsewhere']);
    const first = await fetch(`${server.url}/flaky`);
    expect([first.status, first.headers.get('retry-after'), await first.text()]).toEqual([503, '2', 'busy']);
    expect(await (await fetch(`${server.url}/flaky`)).json()).toEqual({ ok: true });
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
  });

  it('drop: the connection closes without a status line', async () => {
    const server = await startHttpServer(answer.drop());
    peer = server;
    await expect(fetch(server.url)).rejects.toThrow();
  });

  it('a unix-socket peer speaks HTTP on its socketPath (a fake Docker Engine)', async () => {
    const server = await startHttpServer(answer.json({ Version: 'fake' }), { unixSocket: true });
    peer = server;
    const body = await new Promise<string>((resolve, reject) => {
      const req = request({ socketPath: server.socketPath, path: '/version' }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      req.end();
    });
    expect(JSON.parse(body)).toEqual({ Version: 'fake' });
  });

  it('a silent peer accepts the connection and never sends a byte; a refused URL refuses', async () => {
    const silent = await startSilentPeer();
    peer = silent;
    const error = await fetch(silent.url, { signal: AbortSignal.timeout(200) }).catch((err: unknown) => err);
    expect((error as Error).name).toBe('TimeoutError');
    expect(silent.connections).toBe(1);
    const refused = await fetch(await refusedUrl('/health')).catch((err: unknown) => err);
    expect(((refused as Error).cause as { code?: string }).code).toBe('ECONNREFUSED');
  });
});
