import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { buildApp } from '../../src/app.js';
import { testConfig } from '../support/app.js';
import { createLogger } from '../../src/logger.js';
import { startHttpServer, type LoopbackServer } from '../support/http-server.js';
import { startPrometheus, type Prometheus } from '../support/prometheus.js';
import { metricNamesIn, parseExposition, substituteGrafanaVariables, type Exposition } from '../support/promql.js';

const deployFile = (rel: string) => fileURLToPath(new URL(`../../deploy/${rel}`, import.meta.url));
const RULES = deployFile('prometheus/rules.yml');

function run(cmd: string, args: string[]): { code: number; output: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? 1, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

interface RuleFile {
  groups: { name: string; rules: { alert?: string; expr: string; for?: string }[] }[];
}
const rules = (parseYaml(readFileSync(RULES, 'utf8')) as RuleFile).groups.flatMap((g) => g.rules);

interface Panel {
  title: string;
  type: string;
  targets?: { expr: string; refId: string }[];
}
const dashboard = JSON.parse(readFileSync(deployFile('grafana/orch-watchdog.json'), 'utf8')) as {
  panels: Panel[];
  templating: { list: { name: string; definition?: string }[] };
};
const panelQueries = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));

describe('promtool and amtool accept the shipped Prometheus and Alertmanager files', () => {
  it('promtool check config passes deploy/prometheus/prometheus.yml (and the rule file it loads)', () => {
    const r = run('promtool', ['check', 'config', deployFile('prometheus/prometheus.yml')]);
    expect(r.output).toContain('SUCCESS');
    expect(r.code, r.output).toBe(0);
  });

  it('promtool check rules finds all five rules in deploy/prometheus/rules.yml', () => {
    const r = run('promtool', ['check', 'rules', RULES]);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain('SUCCESS: 5 rules found');
  });

  it('promtool test rules: each rule fires on its incident and stays quiet on the near miss', () => {
    const r = run('promtool', ['test', 'rules', deployFile('prometheus/rules.test.yml')]);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain('SUCCESS');
  });

  it('amtool check-config passes deploy/alertmanager/alertmanager.yml', () => {
    const r = run('amtool', ['check-config', deployFile('alertmanager/alertmanager.yml')]);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain('SUCCESS');
  });

  it('has the rules the issue asks for: down, tick stale, blocking 5 m, merge-gate exhaustion, notifier failures', () => {
    expect(rules.map((r) => r.alert)).toEqual([
      'OrchWatchdogDown',
      'OrchWatchdogTickStale',
      'OrchWatchdogBlockingTestProcesses',
      'OrchWatchdogMergeGateExhausted',
      'OrchWatchdogNotifierFailing',
    ]);
    expect(rules.find((r) => r.alert === 'OrchWatchdogBlockingTestProcesses')).toMatchObject({ for: '5m' });
  });
});

describe('the PromQL and exposition readers (so the live checks below can fail)', () => {
  it('finds metric names, not functions, label names, keywords or durations', () => {
    expect(
      metricNamesIn(
        'histogram_quantile(0.95, sum by (le, dep) (rate(orch_watchdog_x_bucket{dep=~"a|b"}[5m]))) / on (dep) group_left up offset 1m > bool 1e3',
      ),
    ).toEqual(['orch_watchdog_x_bucket', 'up']);
    expect(metricNamesIn('time() - orch_watchdog_last_tick_timestamp_seconds{job="orch-watchdog"} > 90')).toEqual([
      'orch_watchdog_last_tick_timestamp_seconds',
    ]);
  });

  it('replaces Grafana variables with values Prometheus accepts', () => {
    expect(substituteGrafanaVariables('rate(x{instance=~"$instance"}[$__rate_interval])')).toBe('rate(x{instance=~".+"}[1m])');
  });

  it('tells declared-but-untouched labelled metrics from sampled ones, expanding histograms', () => {
    const e = parseExposition(
      '# HELP a_total h\n# TYPE a_total counter\n# TYPE h_seconds histogram\nh_seconds_bucket{le="1"} 0\nh_seconds_sum 0\nh_seconds_count 0\n',
    );
    expect([...e.sampled].sort()).toEqual(['h_seconds_bucket', 'h_seconds_count', 'h_seconds_sum']);
    expect([...e.declared].sort()).toEqual(['a_total', 'h_seconds', 'h_seconds_bucket', 'h_seconds_count', 'h_seconds_sum']);
  });
});

describe('a real Prometheus scraping a running watchdog every second', () => {
  let app: FastifyInstance;
  let prometheus: Prometheus;
  let envelope: LoopbackServer;
  let testProcess: ChildProcess;
  let exposition: Exposition;
  const marker = `owd-deploy-probe-${process.pid}`;

  beforeAll(async () => {
    // A watchdog with every source switched on, so every metric is registered and most have samples:
    // an orchestrator that answers 500 (orch_down alerts), a dependency, the /proc scan with a
    // matching process, a watched container.
    envelope = await startHttpServer((_req, res) => {
      res.statusCode = 500;
      res.end('down for the test');
    });
    testProcess = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 600000)', marker], { stdio: 'ignore' });
    app = await buildApp(
      testConfig({
        tickS: 0.5,
        metricsUrl: `${envelope.url}/metrics`,
        orchDownAfter: 1,
        deps: [{ name: 'envelope', url: `${envelope.url}/ping` }],
        procEnabled: true,
        procPatterns: [marker],
        // Watched, but with no engine behind the socket: docker_up is 0, which the dashboard shows.
        containers: ['orchestrator'],
        dockerSock: '/nonexistent/docker.sock',
        notifiers: ['log'],
      }),
      { log: createLogger({ level: 'silent' }), hostname: 'deploy-test' },
    );
    await app.listen({ host: '127.0.0.1', port: 0 });
    app.ctx.watchdog.start();
    const { port } = app.server.address() as AddressInfo;
    prometheus = await startPrometheus({ targets: [`127.0.0.1:${port}`], scrapeIntervalS: 1, ruleFiles: [RULES] });
    // Enough scrapes for rate()/increase() to have two points in their window.
    await prometheus.waitFor('count_over_time(up{job="orch-watchdog"}[1m]) >= 4', 30_000);
    exposition = parseExposition((await app.inject({ url: '/metrics' })).body);
  });

  afterAll(async () => {
    testProcess?.kill('SIGKILL');
    await prometheus?.stop();
    await app?.close();
    await envelope?.close();
  });

  it('scrapes the watchdog: up is 1', async () => {
    const answer = await prometheus.query('up{job="orch-watchdog"}');
    expect(answer.data?.result.map((r) => r.value[1])).toEqual(['1']);
  });

  it('stores a watchdog series as the watchdog counts it (ticks_total grows)', async () => {
    const answer = await prometheus.waitFor('orch_watchdog_ticks_total{job="orch-watchdog"} > 0');
    expect(Number(answer.data!.result[0]!.value[1])).toBeGreaterThan(0);
    expect(await prometheus.metricNames()).toEqual(
      expect.arrayContaining(['orch_watchdog_ticks_total', 'orch_watchdog_tick_duration_seconds_bucket']),
    );
  });

  it('loads deploy/prometheus/rules.yml and evaluates every rule without error against the live series', async () => {
    const res = await fetch(`${prometheus.url}/api/v1/rules`);
    const body = (await res.json()) as { data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] } };
    const loaded = body.data.groups.flatMap((g) => g.rules);
    expect(loaded.map((r) => r.name).sort()).toEqual(rules.map((r) => r.alert).sort());
    expect(loaded.filter((r) => r.health !== 'ok')).toEqual([]);
  });

  // Incident guarded: README's `curl -s 'localhost:9090/api/v1/query?query=up{job="orch-watchdog"}'` sent query=upjob=… (curl globbed the braces).
  it("README's Prometheus commands, copied as written, answer from this Prometheus: up is 1, every rule ok", () => {
    const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
    const commands = readme.split('\n').filter((l) => /^curl .*localhost:9090/.test(l));
    expect(commands).toHaveLength(2);
    const host = prometheus.url.replace(/^http:\/\//, '');
    const outputs = commands.map((c) => run('bash', ['-o', 'pipefail', '-c', c.replace(/localhost:9090/g, host)]));
    expect(outputs.map((o) => o.code)).toEqual([0, 0]);
    expect(JSON.parse(outputs[0]!.output)[1]).toBe('1');
    const rulesShown = outputs[1]!.output
      .trim()
      .split(/\n(?=\{)/)
      .map((o) => JSON.parse(o) as { name: string; health: string });
    expect(rulesShown.map((r) => r.health)).toEqual(rules.map(() => 'ok'));
  });

  it('the healthy watchdog fires neither OrchWatchdogDown nor OrchWatchdogTickStale', async () => {
    const answer = await prometheus.query('ALERTS{alertname=~"OrchWatchdogDown|OrchWatchdogTickStale"}');
    expect(answer.data?.result).toEqual([]);
  });

  it('rule expressions name only series the watchdog exposes', () => {
    const unknown = rules.flatMap((r) =>
      metricNamesIn(r.expr)
        .filter((n) => n !== 'up' && !exposition.declared.has(n))
        .map((n) => `${r.alert}: ${n}`),
    );
    expect(unknown).toEqual([]);
  });

  it('every Grafana panel query names only series the watchdog exposes', () => {
    expect(panelQueries.length).toBeGreaterThan(20);
    const unknown = panelQueries.flatMap((q) =>
      metricNamesIn(substituteGrafanaVariables(q.expr))
        .filter((n) => n !== 'up' && !exposition.declared.has(n))
        .map((n) => `${q.panel}: ${n}`),
    );
    expect(unknown).toEqual([]);
  });

  it('every Grafana panel query parses and runs in Prometheus; those over sampled series return data', async () => {
    const problems: string[] = [];
    for (const q of panelQueries) {
      const expr = substituteGrafanaVariables(q.expr);
      const answer = await prometheus.query(expr);
      if (answer.status !== 'success') {
        problems.push(`${q.panel}: ${answer.errorType}: ${answer.error}`);
        continue;
      }
      const allSampled = metricNamesIn(expr).every((n) => n === 'up' || exposition.sampled.has(n));
      if (allSampled && (answer.data?.result.length ?? 0) === 0) problems.push(`${q.panel}: no data for ${expr}`);
    }
    expect(problems).toEqual([]);
  });

  it("the dashboard's instance variable lists this watchdog", async () => {
    const variable = dashboard.templating.list.find((v) => v.name === 'instance');
    const metric = /label_values\((\w+), instance\)/.exec(variable?.definition ?? '')?.[1];
    expect(metric).toBeDefined();
    const answer = await prometheus.query(`count by (instance) (${metric})`);
    expect(answer.data?.result.length).toBe(1);
  });
});
