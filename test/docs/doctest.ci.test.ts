import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DocSession,
  freePort,
  markdownFiles,
  outputMatches,
  parseBlocks,
  parseSteps,
  RUNNABLE_LANGS,
  type DocBlock,
} from '../support/doctest.js';
import { schemaErrors, type Schema } from '../support/json-schema.js';

/**
 * Every shell example of README.md and docs/*.md runs as written, against a real server, and
 * prints what the text says (docs/README.md: how an example is marked, expected or skipped).
 */

const REPO = new URL('../../', import.meta.url).pathname;
const FILES = markdownFiles(REPO);
const blocksOf = (file: string): DocBlock[] => parseBlocks(file, readFileSync(join(REPO, file), 'utf8'));
const ALL = FILES.flatMap(blocksOf);

// One npm cache for every file: the first `npx orch-watchdog` links the package there once.
const HOME = mkdtempSync(join(tmpdir(), 'owd-doctest-home-'));
afterAll(() => rmSync(HOME, { recursive: true, force: true }));

/**
 * A reader's clean shell: the system PATH (and node's), no WATCHDOG_* from the suite, the
 * examples' 8787 mapped to a free port. Not the suite's PATH: a developer's pyenv or cargo
 * shims under /root would stand in for Debian's pytest and be unreadable to a re-test's user.
 */
const sessionEnv = (port: number): Record<string, string> => ({
  PATH: `${dirname(process.execPath)}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
  HOME,
  LANG: 'C.UTF-8',
  WATCHDOG_PORT: String(port),
  npm_config_update_notifier: 'false',
  npm_config_fund: 'false',
  npm_config_audit: 'false',
});

describe('every example is marked the way docs/README.md says', () => {
  it('directives are known, and an example that does not run says why', () => {
    const unknown = ALL.filter((b) => b.directive.kind === 'unknown').map((b) => `${b.file}:${b.line}`);
    const reasonless = ALL.filter((b) => b.directive.kind === 'skip' && b.directive.reason.length < 10).map((b) => `${b.file}:${b.line}`);
    expect({ unknown, reasonless }).toEqual({ unknown: [], reasonless: [] });
  });

  it('server, scratch and skip mark shell blocks, schema marks JSON', () => {
    const misplaced = ALL.filter((b) => {
      const k = b.directive.kind;
      if (k === 'schema') return b.lang !== 'json';
      return (k === 'server' || k === 'scratch') && !RUNNABLE_LANGS.has(b.lang);
    }).map((b) => `${b.file}:${b.line}`);
    expect(misplaced).toEqual([]);
  });

  it('every JSON example parses, and one marked with a schema fits the OpenAPI document', () => {
    const doc = JSON.parse(readFileSync(join(REPO, 'openapi/openapi.json'), 'utf8')) as { components: { schemas: Record<string, Schema> } };
    const problems: string[] = [];
    for (const b of ALL.filter((x) => x.lang === 'json')) {
      let value: unknown;
      try {
        value = JSON.parse(b.code);
      } catch (err) {
        problems.push(`${b.file}:${b.line}: ${(err as Error).message}`);
        continue;
      }
      if (b.directive.kind !== 'schema') continue;
      const schema = doc.components.schemas[b.directive.name];
      if (!schema) problems.push(`${b.file}:${b.line}: no schema ${b.directive.name}`);
      else problems.push(...schemaErrors(value, schema, doc.components.schemas).map((e) => `${b.file}:${b.line}: ${e}`));
    }
    expect(problems).toEqual([]);
  });
});

for (const file of FILES) {
  const blocks = blocksOf(file).filter((b) => RUNNABLE_LANGS.has(b.lang) && b.directive.kind !== 'skip');
  if (blocks.length === 0) continue;

  describe(`${file}: its shell examples run as written`, () => {
    let session: DocSession;
    beforeAll(async () => {
      const port = await freePort();
      session = new DocSession(REPO, port, sessionEnv(port));
      // what `npm start` runs, with no WATCHDOG_* set: the state a reader is in after the README's first command
      await session.startServer('exec node dist/src/server.js');
    }, 120_000);
    afterAll(async () => {
      await session?.close();
    });

    for (const block of blocks) {
      it(`${file}:${block.line}`, { timeout: 600_000 }, async () => {
        if (block.directive.kind === 'server') {
          await session.startServer(block.code);
          return;
        }
        const steps = parseSteps(block);
        for (const [i, step] of steps.entries()) {
          const r = await session.run(step.script, {
            inScratch: block.directive.kind === 'scratch',
            isLastOfBlock: i === steps.length - 1,
          });
          const shown = `${file}:${step.line}\n$ ${step.script.trim()}\n${r.output}`;
          expect({ exitCode: r.exitCode, failed: step.exitCode === 0 ? r.failed : [] }, shown).toEqual({
            exitCode: step.exitCode,
            failed: [],
          });
          if (step.output !== null) {
            const expected = step.output.replace(/\b8787\b/g, String(session.port));
            expect(outputMatches(expected, r.output), `${shown}\n--- the text says ---\n${expected}`).toBe(true);
          }
        }
      });
    }
  });
}
