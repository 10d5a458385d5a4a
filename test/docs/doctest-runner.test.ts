import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DocSession, freePort, outputMatches, parseBlocks, parseSteps } from '../support/doctest.js';

// The doctest must be able to fail: each way an example can be broken is caught here, on examples made broken on purpose.

const md = (...lines: string[]) => lines.join('\n');

describe('reading the examples out of Markdown', () => {
  it('finds fences with the mark right above them (blank lines between allowed), and what each step says', () => {
    const blocks = parseBlocks(
      'x.md',
      md(
        'text',
        '<!-- doctest: skip — needs a Kubernetes cluster -->',
        '',
        '```sh',
        'kubectl apply -k deploy/kubernetes',
        '```',
        '```sh',
        'W=http://127.0.0.1:8787   # a variable',
        'curl -s -X POST $W/x \\',
        '  -d \'{"a":',
        "  1}'",
        '# → {"error": "forbidden", …}',
        '# a comment, not an expectation',
        'false',
        '# → exit 1',
        '```',
        '<!-- doctest: schema RetestRun -->',
        '```json',
        '{}',
        '```',
      ),
    );
    expect(blocks.map((b) => [b.line, b.lang, b.directive])).toEqual([
      [4, 'sh', { kind: 'skip', reason: 'needs a Kubernetes cluster' }],
      [7, 'sh', { kind: 'run' }],
      [18, 'json', { kind: 'schema', name: 'RetestRun' }],
    ]);
    expect(parseSteps(blocks[1]!)).toEqual([
      { line: 8, script: 'W=http://127.0.0.1:8787   # a variable', exitCode: 0, output: null },
      { line: 9, script: 'curl -s -X POST $W/x \\\n  -d \'{"a":\n  1}\'', exitCode: 0, output: '{"error": "forbidden", …}' },
      { line: 14, script: 'false', exitCode: 1, output: null },
    ]);
  });

  it('a "# →" line under no command is a mistake in the Markdown, said with its line', () => {
    const [block] = parseBlocks('x.md', md('```sh', '# → ok', '```'));
    expect(() => parseSteps(block!)).toThrow(/x\.md:2: "# →" with no command above it/);
  });
});

describe('comparing the output with the text', () => {
  it('ignores whitespace and lets … stand for any text, over the whole output', () => {
    expect(outputMatches('{"status": "ok", …}', '{"status":"ok","tick_count":3}\n')).toBe(true);
    expect(outputMatches('a\n…\nc', 'a\nb\nb\nc\n')).toBe(true);
    expect(outputMatches('{"status": "ok"}', '{"status":"ok","tick_count":3}')).toBe(false);
    expect(outputMatches('{"kind": "git"}', '{"kind":"flock write"}')).toBe(false);
    expect(outputMatches('sha256=(x)+', 'sha256=(x)+')).toBe(true);
  });
});

describe('a session runs steps like a terminal, and reports what a broken example does', { timeout: 60_000 }, () => {
  let session: DocSession;
  beforeAll(async () => {
    const port = await freePort();
    session = new DocSession(new URL('../../', import.meta.url).pathname, port, {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: '/nonexistent',
      WATCHDOG_PORT: String(port),
    });
  });
  afterAll(async () => {
    await session.close();
  });

  it('keeps variables from one step to the next, and maps 8787 to its port', async () => {
    await session.run('X=kept; echo http://localhost:8787');
    const r = await session.run('echo $X $WATCHDOG_PORT');
    expect(r).toEqual({ exitCode: 0, output: `kept ${session.port}\n`, failed: [] });
  });

  it('a command failing in the middle of a step is reported, though the last one succeeds', async () => {
    const r = await session.run('grep -q nothing-like-this /etc/hostname\necho fine');
    expect(r.exitCode).toBe(0);
    expect(r.failed).toEqual(['1\tgrep -q nothing-like-this /etc/hostname']);
  });

  it('a pipeline that fails early fails (pipefail), and the exit code is the step’s', async () => {
    const r = await session.run("false | cat\ncurl -s http://127.0.0.1:1/ | jq -e '.a'");
    // bash names a pipeline by its last command
    expect(r.failed.map((f) => f.split('\t')[1])).toEqual(['cat', "jq -e '.a'"]);
    expect(r.exitCode).not.toBe(0);
  });

  it('a server block that never answers /healthz fails with its log, instead of hanging', async () => {
    await expect(session.startServer('echo starting; exit 3')).rejects.toThrow(/the server exited:\nstarting/);
  });
});
