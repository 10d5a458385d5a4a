import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { KEY_SPECS } from '../../src/config.js';

/**
 * docker-compose.yml checked by the real Compose implementation available from Debian
 * (`docker-compose` 1.29, which reads the Compose spec incl. profiles); the Compose v2 plugin
 * is not packaged for this Debian. `config` resolves env_file, variables and profiles
 * exactly as `up` would, without needing images.
 */

const repo = fileURLToPath(new URL('../../', import.meta.url));
const COMPOSE = 'docker-compose';

interface Service {
  image?: string;
  build?: unknown;
  pid?: string;
  privileged?: boolean;
  profiles?: string[];
  restart?: string;
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  user?: string;
  cap_drop?: string[];
  cap_add?: string[];
  security_opt?: string[];
  read_only?: boolean;
}
interface ComposeFile {
  services: Record<string, Service>;
}

let workDir: string;

function compose(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(COMPOSE, ['-f', join(workDir, 'docker-compose.yml'), '--project-directory', workDir, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    // No DOCKER_GID etc. from the caller: the file's own defaults are what is checked.
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: workDir },
  });
  return { code: r.status ?? 1, stdout: r.stdout ?? '', stderr: `${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

function resolved(profileArgs: string[] = []): ComposeFile {
  const r = compose([...profileArgs, 'config']);
  expect(r.code, r.stderr).toBe(0);
  return parseYaml(r.stdout) as ComposeFile;
}

beforeAll(() => {
  // The operator's first step: cp .env.example .env (env_file must exist); a temp dir keeps the repo clean.
  workDir = mkdtempSync(join(tmpdir(), 'owd-compose-'));
  copyFileSync(join(repo, 'docker-compose.yml'), join(workDir, 'docker-compose.yml'));
  copyFileSync(join(repo, '.env.example'), join(workDir, '.env'));
});
afterAll(() => {
  rmSync(workDir, { recursive: true, force: true });
});

describe('docker compose config accepts docker-compose.yml', () => {
  it('validates it, env_file and variables included', () => {
    const r = compose(['config', '-q']);
    expect(r.code, r.stderr).toBe(0);
  });

  it('starts only the watchdog by default; the monitoring profile adds Prometheus, Alertmanager and Grafana', () => {
    const services = resolved(['--profile', 'monitoring']).services;
    const profiles = Object.fromEntries(Object.entries(services).map(([name, s]) => [name, s.profiles ?? []]));
    expect(profiles).toEqual({ watchdog: [], prometheus: ['monitoring'], alertmanager: ['monitoring'], grafana: ['monitoring'] });
  });
});

describe('the watchdog service', () => {
  let svc: Service;
  beforeAll(() => {
    svc = resolved().services.watchdog!;
  });

  it("shares the host's process table and nothing gets privileged", () => {
    expect(svc.pid).toBe('host');
    expect(svc.privileged ?? false).toBe(false);
    expect(svc.cap_drop).toEqual(['ALL']);
    expect(svc.read_only).toBe(true);
    expect(svc.security_opt).toEqual(['no-new-privileges:true']);
  });

  it('keeps only the capabilities run-as needs, so a re-test never runs with the watchdog identity (root in the container, three caps)', () => {
    expect(svc.user).toBe('0:0');
    expect([...(svc.cap_add ?? [])].sort()).toEqual(['KILL', 'SETGID', 'SETUID']);
  });

  it('keeps the state file on a named volume, so a restart or an image upgrade does not forget alerts or queued re-tests', () => {
    const state = svc.environment?.WATCHDOG_STATE_FILE;
    expect(state).toBe('/var/lib/orch-watchdog/state.json');
    const mount = (svc.volumes ?? []).find((v) => v.endsWith(':/var/lib/orch-watchdog') || v.includes(':/var/lib/orch-watchdog:'));
    expect(mount?.split(':')[0]).toMatch(/^[a-z0-9_-]+$/);
  });

  it("mounts the orchestrator's checkouts at the same path inside, so a re-test's cwd means the same in both", () => {
    const ws = (svc.volumes ?? []).filter((v) => v.includes('/srv/orchestrator'));
    expect(ws).toEqual(['/srv/orchestrator:/srv/orchestrator:rw']);
  });

  it('mounts the Docker socket read-only, at the path WATCHDOG_DOCKER_SOCK defaults to', () => {
    const sock = (svc.volumes ?? []).filter((v) => v.includes('docker.sock'));
    expect(sock).toEqual(['/var/run/docker.sock:/var/run/docker.sock:ro']);
  });

  it('reads .env and still listens on all container interfaces when .env keeps 127.0.0.1', () => {
    // The env_file values arrive (a default from .env.example) ...
    expect(svc.environment?.WATCHDOG_TICK_S).toBe('30');
    // ... but environment: wins, or the published port would reach nothing.
    expect(svc.environment?.WATCHDOG_HOST).toBe('0.0.0.0');
    expect(svc.environment?.WATCHDOG_PORT).toBe('8787');
    expect(svc.ports?.[0]).toMatch(/^127\.0\.0\.1:8787:8787/);
  });

  it('sets only WATCHDOG_* keys the config schema knows (a typo would be silently ignored)', () => {
    const unknown = Object.keys(svc.environment ?? {}).filter((k) => k.startsWith('WATCHDOG_') && !KEY_SPECS.some((s) => s.key === k));
    expect(unknown).toEqual([]);
  });

  it("restarts by itself and is built from this repo with a Node 24 slim base by default, the Dockerfile's own (BASE_IMAGE names a test image instead)", () => {
    expect(svc.restart).toBe('unless-stopped');
    expect(svc.build).toMatchObject({ args: { NODE_BASE: 'node:24-slim', BASE_IMAGE: 'node:24-slim', NODE_FROM: 'base' } });
    const dockerfile = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');
    expect(/^ARG NODE_BASE=(\S+)$/m.exec(dockerfile)?.[1]).toBe('node:24-slim');
  });
});

describe('the monitoring profile', () => {
  let services: Record<string, Service>;
  beforeAll(() => {
    services = resolved(['--profile', 'monitoring']).services;
  });

  it('gives pid: host and privileged to no other service', () => {
    const others = Object.entries(services).filter(([name]) => name !== 'watchdog');
    expect(others.filter(([, s]) => s.pid !== undefined || s.privileged === true).map(([n]) => n)).toEqual([]);
  });

  it('mounts config files that exist in the repo', () => {
    const sources = Object.values(services)
      .flatMap((s) => s.volumes ?? [])
      .map((v) => v.split(':')[0]!)
      .filter((src) => isAbsolute(src) && src.startsWith(workDir))
      .map((src) => resolve(repo, src.slice(workDir.length + 1)));
    expect(sources.length).toBeGreaterThanOrEqual(5);
    expect(sources.filter((s) => !existsSync(s))).toEqual([]);
  });

  it('Prometheus scrapes the watchdog service and alerts to the alertmanager service by their compose names', () => {
    const prom = parseYaml(readFileSync(join(repo, 'deploy/prometheus/prometheus.yml'), 'utf8')) as {
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
      alerting: { alertmanagers: { static_configs: { targets: string[] }[] }[] };
      rule_files: string[];
    };
    const job = prom.scrape_configs.find((c) => c.job_name === 'orch-watchdog');
    expect(job?.static_configs[0]?.targets).toEqual(['watchdog:8787']);
    expect(prom.alerting.alertmanagers[0]?.static_configs[0]?.targets).toEqual(['alertmanager:9093']);
    expect(services.prometheus?.volumes).toEqual(
      expect.arrayContaining([expect.stringMatching(/deploy\/prometheus\/rules\.yml:\/etc\/prometheus\/rules\.yml:ro$/)]),
    );
    expect(prom.rule_files).toEqual(['rules.yml']);
  });

  it('Grafana gets the dashboard where its provisioning looks, and a datasource pointing at the prometheus service', () => {
    const provider = parseYaml(readFileSync(join(repo, 'deploy/grafana/provisioning/dashboards/orch-watchdog.yml'), 'utf8')) as {
      providers: { options: { path: string } }[];
    };
    const dir = provider.providers[0]!.options.path;
    expect(services.grafana?.volumes).toEqual(
      expect.arrayContaining([expect.stringMatching(new RegExp(`deploy/grafana/orch-watchdog\\.json:${dir}/orch-watchdog\\.json:ro$`))]),
    );
    const ds = parseYaml(readFileSync(join(repo, 'deploy/grafana/provisioning/datasources/prometheus.yml'), 'utf8')) as {
      datasources: { type: string; url: string }[];
    };
    expect(ds.datasources).toEqual([expect.objectContaining({ type: 'prometheus', url: 'http://prometheus:9090' })]);
  });
});
