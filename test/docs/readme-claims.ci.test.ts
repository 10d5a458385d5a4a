import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { markdownFiles, parseBlocks, RUNNABLE_LANGS } from '../support/doctest.js';

/** What the docs say about commands the doctest cannot run here (they are marked skip): checked another way. */

const REPO = new URL('../../', import.meta.url).pathname;
const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
const FILES = markdownFiles(REPO);
const shellBlocks = FILES.flatMap((f) => parseBlocks(f, readFileSync(join(REPO, f), 'utf8'))).filter((b) => RUNNABLE_LANGS.has(b.lang));

describe('commands that would not work as written', () => {
  // Incident guarded: curl 'localhost:9090/api/v1/query?query=up{job="orch-watchdog"}' sent query=upjob=… (curl globs {} and []).
  it('no curl URL has {} or [] unless curl is told not to glob (-g) or the query is --data-urlencode', () => {
    const globbing = shellBlocks.flatMap((b) =>
      b.code
        .split('\n')
        .filter(
          (l) =>
            /\bcurl\b/.test(l) &&
            /\bcurl\b[^|]*(?:localhost|127\.0\.0\.1|https?:\/\/|\$W)\S*[{}[\]]/.test(l) &&
            !/\s(-g|--globoff|-\w*g\w*)\s/.test(l),
        )
        .map((l) => `${b.file}:${b.line}: ${l.trim()}`),
    );
    expect(globbing).toEqual([]);
  });

  it('the Kubernetes steps create the namespace before the Secret that lives in it, and name what to replace', () => {
    const k8s = shellBlocks.find((b) => b.file === 'README.md' && b.code.includes('kubectl apply -k'))!;
    const lines = k8s.code.split('\n');
    const namespace = lines.findIndex((l) => l.includes('kubectl apply -f deploy/kubernetes/namespace.yaml'));
    const secret = lines.findIndex((l) => l.includes('kubectl -n orch-watchdog create secret'));
    expect(namespace).toBeGreaterThanOrEqual(0);
    expect(secret).toBeGreaterThan(namespace);
    const daemonset = readFileSync(join(REPO, 'deploy/kubernetes/daemonset.yaml'), 'utf8');
    const image = /image: (\S+)/.exec(daemonset)![1]!;
    const peers = /WATCHDOG_ALERTMANAGER_URL\s*\n\s*value: (\S+)/.exec(daemonset)![1]!;
    expect(readme).toContain(image);
    expect(readme).toContain(peers.split(',')[0]!.replace(/^https?:\/\//, ''));
  });

  it('the Compose commands say which Compose they need; the one run here is the one Debian packages', () => {
    expect(readme).toMatch(/Docker Compose v2 \(`docker compose`, the plugin\) or v1\.28 or later\s+\(`docker-compose`/);
    expect(spawnSync('docker-compose', ['version', '--short'], { encoding: 'utf8' }).stdout).toMatch(/^1\.(2[89]|[3-9]\d)\./);
  });
});

describe("README's Alertmanager excerpt names the version it needs", () => {
  const excerpt = /```yaml\n(# alertmanager\.yml \(excerpt\)[\s\S]*?)```/.exec(readme)![1]!;
  const version = spawnSync('amtool', ['--version'], { encoding: 'utf8' });
  const amtoolVersion = /version (\d+)\.(\d+)/.exec(`${version.stdout}${version.stderr}`)!;
  const minor = Number(amtoolVersion[2]);

  function check(config: string): { code: number; output: string } {
    const dir = mkdtempSync(join(tmpdir(), 'owd-am-excerpt-'));
    try {
      writeFileSync(join(dir, 'alertmanager.yml'), config);
      const r = spawnSync('amtool', ['check-config', join(dir, 'alertmanager.yml')], { encoding: 'utf8' });
      return { code: r.status ?? 1, output: `${r.stdout}${r.stderr}` };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('says 0.26 or later, which bot_token_file needs', () => {
    expect(readme).toMatch(/Alertmanager 0\.26 or later \(`bot_token_file` is new in 0\.26; Debian 12's 0\.25 rejects it/);
    expect(excerpt).toContain('bot_token_file:');
  });

  it(`is valid for this amtool (0.${minor}): as written from 0.26 on; before, only bot_token_file is refused`, () => {
    if (minor >= 26) {
      expect(check(excerpt)).toMatchObject({ code: 0 });
      return;
    }
    const asWritten = check(excerpt);
    expect(asWritten.code).toBe(1);
    expect(asWritten.output).toMatch(/field bot_token_file not found/);
    expect(check(excerpt.replace(/bot_token_file: \S+/, 'bot_token: "123456:abc"'))).toMatchObject({ code: 0 });
  });
});
