import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { RecordingNotifier, testApp } from '../support/app.js';

const TOKEN = 'test-token-123';
const auth = { authorization: `Bearer ${TOKEN}` };
const apps: FastifyInstance[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

async function app(config: Parameters<typeof testApp>[0] = {}, notifier?: RecordingNotifier) {
  const a = await testApp({ apiToken: TOKEN, killGraceS: 0.2, ...config }, notifier ? { notifiers: [notifier] } : {});
  apps.push(a);
  return a;
}

const body = (extra: Record<string, unknown> = {}) => ({ repo: 'api', branch: 'feat-x', cwd: tmpdir(), command: ['true'], ...extra });

async function finalRun(a: FastifyInstance, id: string) {
  await a.ctx.mergeGate.idle();
  let run = (await a.inject(`/merge-gate/retests/${id}`)).json();
  while (run.requeued_as) run = (await a.inject(`/merge-gate/retests/${run.requeued_as}`)).json();
  return run;
}

describe('POST /merge-gate/retests needs the bearer token', () => {
  it('403 when WATCHDOG_API_TOKEN is empty: writes are off', async () => {
    const a = await app({ apiToken: '' });
    const res = await a.inject({ method: 'POST', url: '/merge-gate/retests', payload: body(), headers: auth });
    expect(res.statusCode).toBe(403);
    expect(res.json().error).toBe('forbidden');
  });

  it('401 without or with a wrong token; nothing is queued', async () => {
    const a = await app();
    expect((await a.inject({ method: 'POST', url: '/merge-gate/retests', payload: body() })).statusCode).toBe(401);
    expect((await a.inject({ method: 'POST', url: '/merge-gate/retests', payload: body(), headers: { authorization: 'Bearer nope' } })).statusCode).toBe(401);
    expect((await a.inject('/queue')).json().merge_gate).toMatchObject({ queued: 0, running: 0, runs_total: 0 });
  });
});

describe('every bad request body gets a 400 naming the field', () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['cwd that does not exist', { cwd: '/nonexistent/checkout' }, /body\.cwd: must be an existing directory/],
    ['cwd that is a file', { cwd: '/etc/hostname' }, /body\.cwd: must be an existing directory/],
    ['relative cwd', { cwd: 'checkout' }, /body\.cwd: must be an absolute path/],
    ['command as a shell string', { command: 'npm test && rm -rf /' }, /body\.command/],
    ['empty command', { command: [] }, /body\.command: must be a non-empty argv array/],
    ['empty program', { command: ['', 'x'] }, /body\.command: command\[0\]/],
    ['zero timeout', { timeout_s: 0 }, /body\.timeout_s: must be greater than 0/],
    ['a day and more', { timeout_s: 86_401 }, /body\.timeout_s: must be at most 86400/],
    ['timeout as text', { timeout_s: '60' }, /body\.timeout_s/],
    ['validated_sha not hex', { validated_sha: 'not-a-sha' }, /body\.validated_sha: must be a 7\.\.64 character hex commit id/],
    ['empty repo', { repo: '' }, /body\.repo: must be a non-empty string/],
    ['blank branch', { branch: '   ' }, /body\.branch: must be a non-empty string/],
    ['missing branch', { branch: undefined }, /body\.branch/],
    ['a misspelt field', { timeout: 60 }, /timeout/],
  ];
  for (const [name, extra, message] of cases) {
    it(name, async () => {
      const a = await app();
      const res = await a.inject({ method: 'POST', url: '/merge-gate/retests', payload: body(extra), headers: auth });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ error: 'bad_request' });
      expect(res.json().message).toMatch(message);
    });
  }

  it('a body that is not JSON', async () => {
    const a = await app();
    const res = await a.inject({ method: 'POST', url: '/merge-gate/retests', payload: '{nope', headers: { ...auth, 'content-type': 'application/json' } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toHaveProperty('message');
  });
});

describe('a re-test through the API', () => {
  it('202 {id, status: queued}; then GET shows the finished RetestRun and /queue counts it', async () => {
    const a = await app();
    const res = await a.inject({ method: 'POST', url: '/merge-gate/retests', payload: body({ command: ['/bin/sh', '-c', 'echo ok'] }), headers: auth });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ id: expect.any(String), status: 'queued' });
    const run = await finalRun(a, res.json().id);
    expect(run).toMatchObject({ repo: 'api', branch: 'feat-x', status: 'done', outcome: 'pass', decision: 'merge', returncode: 0, attempt: 1 });
    expect(run.started_at).toMatch(/Z$/);
    expect(run.finished_at).toMatch(/Z$/);
    expect(run.duration_s).toBeGreaterThan(0);
    expect((await a.inject('/queue')).json()).toEqual({
      merge_gate: { runs_total: 1, running: 0, queued: 0, outcomes: { pass: 1, red: 0, timeout: 0, lock_busy: 0, other: 0, skipped: 0 }, infra_requeues: 0, infra_exhausted: 0 },
    });
  });

  it('a red run is rolled back', async () => {
    const a = await app();
    const res = await a.inject({ method: 'POST', url: '/merge-gate/retests', payload: body({ command: ['/bin/sh', '-c', 'exit 1'] }), headers: auth });
    expect(await finalRun(a, res.json().id)).toMatchObject({ outcome: 'red', decision: 'rollback', returncode: 1 });
  });

  it('HEAD already validated in a real checkout -> skipped, merged, nothing run', async () => {
    const repo = mkdtempSync(join(tmpdir(), 'owd-api-git-'));
    const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', ...args], { cwd: repo, encoding: 'utf8' }).trim();
    git('init', '-q');
    writeFileSync(join(repo, 'f'), 'x');
    git('add', 'f');
    git('commit', '-q', '-m', 'x');
    const head = git('rev-parse', 'HEAD');
    const marker = join(repo, 'ran');
    const a = await app();
    const res = await a.inject({
      method: 'POST',
      url: '/merge-gate/retests',
      payload: body({ cwd: repo, validated_sha: head, command: ['/bin/sh', '-c', `touch ${marker}`] }),
      headers: auth,
    });
    const run = await finalRun(a, res.json().id);
    expect(run).toMatchObject({ outcome: 'skipped', decision: 'merge' });
    expect(run.returncode).toBeUndefined();
    expect(() => execFileSync('test', ['-e', marker])).toThrow();
  });

  it('an unknown id is 404 with the error shape', async () => {
    const a = await app();
    const res = await a.inject('/merge-gate/retests/00000000-0000-0000-0000-000000000000');
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ error: 'not_found' });
  });

  it('repeated infra timeouts: re-queued WATCHDOG_MERGE_INFRA_RETRY_MAX times, then exactly one merge_gate_exhausted alert; counters on /queue and /metrics', async () => {
    const notifier = new RecordingNotifier();
    const a = await app({ mergeInfraRetryMax: 2 }, notifier);
    const res = await a.inject({ method: 'POST', url: '/merge-gate/retests', payload: body({ command: ['sleep', '30'], timeout_s: 0.2 }), headers: auth });
    const last = await finalRun(a, res.json().id);
    expect(last).toMatchObject({ attempt: 3, outcome: 'timeout', decision: 'exhausted', signal: 'SIGTERM' });
    for (let i = 0; i < 100 && notifier.events.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 100));
    expect(notifier.actions()).toEqual(['ALERT merge_gate_exhausted:api@feat-x']);
    expect((await a.inject('/queue')).json().merge_gate).toMatchObject({ runs_total: 3, infra_requeues: 2, infra_exhausted: 1, outcomes: { timeout: 3 } });
    const metrics = (await a.inject('/metrics')).body;
    expect(metrics).toMatch(/^orch_watchdog_merge_gate_runs_total\{outcome="timeout"\} 3$/m);
    expect(metrics).toMatch(/^orch_watchdog_merge_gate_runs_total\{outcome="pass"\} 0$/m);
    expect(metrics).toMatch(/^orch_watchdog_merge_gate_infra_requeues_total 2$/m);
    expect(metrics).toMatch(/^orch_watchdog_merge_gate_infra_exhausted_total 1$/m);
    expect(metrics).toMatch(/^orch_watchdog_merge_gate_running 0$/m);
    expect(metrics).toMatch(/^orch_watchdog_merge_gate_queued 0$/m);
    expect(metrics).toMatch(/^orch_watchdog_merge_gate_duration_seconds_count 3$/m);
  });
});
