import { connect, type AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../support/app.js';

// Real HTTP on loopback: these errors come from fastify's body parsers and router, before any route runs.
let app: FastifyInstance;
let base: string;
const auth = { authorization: 'Bearer test-token' };

beforeAll(async () => {
  app = await testApp({ apiToken: 'test-token' });
  await app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await app.close();
});

async function call(path: string, init: RequestInit = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(base + path, init);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

function expectErrorShape(body: Record<string, unknown>, error: string): void {
  expect(Object.keys(body).sort()).toEqual(['error', 'message']);
  expect(body.error).toBe(error);
  expect(body.message).toEqual(expect.any(String));
  expect(JSON.stringify(body)).not.toMatch(/fst_err/i);
}

describe("fastify's own 4xx answer in the one {error, message} shape with stable codes (not FST_ERR_* internals)", () => {
  it('a body that is not JSON is 400 bad_request', async () => {
    const { status, body } = await call('/merge-gate/retests', {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: '{nope',
    });
    expect(status).toBe(400);
    expectErrorShape(body, 'bad_request');
  });

  it('an empty JSON body is 400 bad_request', async () => {
    const { status, body } = await call('/merge-gate/retests', {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: '',
    });
    expect(status).toBe(400);
    expectErrorShape(body, 'bad_request');
  });

  it('text/plain is 415 naming application/json (it used to be a confusing 400 "expected object, received string")', async () => {
    const { status, body } = await call('/merge-gate/retests', {
      method: 'POST',
      headers: { ...auth, 'content-type': 'text/plain' },
      body: '{"repo": "api"}',
    });
    expect(status).toBe(415);
    expectErrorShape(body, 'unsupported_media_type');
    expect(body.message).toMatch(/application\/json/);
    expect(body.message).toMatch(/text\/plain/);
  });

  it('a form body is 415 unsupported_media_type', async () => {
    const { status, body } = await call('/merge-gate/retests', {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'repo=api',
    });
    expect(status).toBe(415);
    expectErrorShape(body, 'unsupported_media_type');
  });

  it('a body over the limit is 413 payload_too_large and says the limit', async () => {
    const huge = JSON.stringify({ repo: 'api', branch: 'b', cwd: '/tmp', command: ['x'.repeat(2 * 1024 * 1024)] });
    const { status, body } = await call('/merge-gate/retests', {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: huge,
    });
    expect(status).toBe(413);
    expectErrorShape(body, 'payload_too_large');
    expect(body.message).toMatch(/1048576 bytes/);
  });

  it('a URL with broken percent-encoding is 400 in the error shape (the router answered {error, code, statusCode} before)', async () => {
    const { status, body } = await call('/merge-gate/retests/%zz');
    expect(status).toBe(400);
    expectErrorShape(body, 'bad_request');
  });

  it('an over-long path parameter is 414 in the error shape', async () => {
    const { status, body } = await call(`/merge-gate/retests/${'a'.repeat(101)}`);
    expect(status).toBe(414);
    expectErrorShape(body, 'uri_too_long');
  });

  it('a wrong method stays a 404 in the error shape', async () => {
    const { status, body } = await call('/queue', { method: 'DELETE' });
    expect(status).toBe(404);
    expectErrorShape(body, 'not_found');
  });
});

/** A raw HTTP/1.1 exchange: what Node's parser rejects never reaches fetch's happy path. */
function rawRequest(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString()));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
  });
}

describe("what Node's HTTP parser rejects answers in the same shape", () => {
  it('headers over 16 KiB are 431 {error: "header_too_large", message} (fastify answered {error: "Request Header Fields Too Large", statusCode})', async () => {
    const port = (app.server.address() as AddressInfo).port;
    const answer = await rawRequest(port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    const [head = '', body = ''] = answer.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 431 /);
    expect(head).toMatch(/content-type: application\/json/i);
    expectErrorShape(JSON.parse(body) as Record<string, unknown>, 'header_too_large');
  });

  it('a request that is not HTTP is 400 bad_request in the error shape', async () => {
    const port = (app.server.address() as AddressInfo).port;
    const answer = await rawRequest(port, 'HELLO\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expectErrorShape(JSON.parse(answer.split('\r\n\r\n')[1] ?? '') as Record<string, unknown>, 'bad_request');
  });
});

describe('the OpenAPI document names every error a route answers', () => {
  it('the body routes list 413 and 415, and each error status says which codes it carries', async () => {
    const doc = (await app.inject('/openapi.json')).json<{
      paths: Record<string, Record<string, { responses: Record<string, { description: string }> }>>;
      components: { schemas: { Error: { properties: { error: { enum: string[] } } } } };
    }>();
    const post = doc.paths['/merge-gate/retests']!.post!.responses;
    expect(Object.keys(post).sort()).toEqual(['202', '400', '401', '403', '413', '415', '429']);
    expect(post['415']!.description).toMatch(/^`unsupported_media_type`: /);
    expect(post['400']!.description).toMatch(/`bad_request`: .*; `run_as_refused`: /);
    expect(doc.paths['/merge-gate/retests/{id}']!.delete!.responses['409']!.description).toMatch(/^`already_done`: /);
    expect(doc.components.schemas.Error.properties.error.enum).toEqual(
      expect.arrayContaining(['already_done', 'run_as_refused', 'header_too_large']),
    );
  });
});
