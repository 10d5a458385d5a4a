import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { waitFor } from './wait-for.js';

/**
 * The documentation's examples, run as a reader runs them (docs/README.md says how an example
 * is marked). Parsing and matching are plain functions; `DocSession` is the I/O: one bash per
 * Markdown file, a server on a free port, and the steps fed to that bash in order.
 */

export type Directive =
  | { kind: 'run' }
  | { kind: 'skip'; reason: string }
  | { kind: 'server' }
  | { kind: 'scratch' }
  | { kind: 'schema'; name: string }
  | { kind: 'unknown'; text: string };

export interface DocBlock {
  file: string;
  /** 1-based line of the opening fence */
  line: number;
  lang: string;
  code: string;
  directive: Directive;
}

/** A command (one or more lines) and what the text says it does. */
export interface DocStep {
  /** 1-based line of the step's first line in the Markdown file */
  line: number;
  script: string;
  /** `# → exit N`; 0 when the text says nothing */
  exitCode: number;
  /** `# → …` lines, or null when the text does not show the output */
  output: string | null;
}

/** Every Markdown file git tracks (README.md, docs/, clients/…), each once: a new page is run as soon as it exists. */
export function markdownFiles(repo: string): string[] {
  const listed = spawnSync('git', ['ls-files', '*.md'], { cwd: repo, encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  return [...new Set(listed)];
}

export const RUNNABLE_LANGS = new Set(['sh', 'bash', 'shell']);
const EXPECT = /^\s*# → ?(.*)$/;

function parseDirective(text: string): Directive {
  const t = text.trim();
  const skip = /^skip\s*[—:-]\s*(.*)$/.exec(t);
  if (skip) return { kind: 'skip', reason: skip[1]!.trim() };
  if (t === 'skip') return { kind: 'skip', reason: '' };
  if (t === 'server') return { kind: 'server' };
  if (t === 'scratch') return { kind: 'scratch' };
  const schema = /^schema\s+(\w+)$/.exec(t);
  if (schema) return { kind: 'schema', name: schema[1]! };
  return { kind: 'unknown', text: t };
}

/** Every fenced block of a Markdown text, with the `<!-- doctest: … -->` line right above it (blank lines between allowed). */
export function parseBlocks(file: string, markdown: string): DocBlock[] {
  const lines = markdown.split('\n');
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)/.exec(lines[i]!);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i += 1; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
    let above = start - 1;
    while (above >= 0 && lines[above]!.trim() === '') above -= 1;
    const marker = above >= 0 ? /^<!-- doctest: (.*?) -->$/.exec(lines[above]!.trim()) : null;
    blocks.push({
      file,
      line: start + 1,
      lang: open[1] ?? '',
      code: body.join('\n'),
      directive: marker ? parseDirective(marker[1]!) : { kind: 'run' },
    });
  }
  return blocks;
}

/** Whether `text` leaves a quote open or ends in a backslash: the command goes on on the next line. */
function continues(text: string): boolean {
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote === null && c === '#' && (i === 0 || /\s/.test(text[i - 1]!))) {
      const eol = text.indexOf('\n', i);
      if (eol < 0) break;
      i = eol;
    } else if (c === '\\' && quote !== "'") i += 1;
    else if (quote === null && (c === "'" || c === '"')) quote = c;
    else if (c === quote) quote = null;
  }
  return quote !== null || /\\$/.test(text);
}

/** Whether a command that began with `lines` is still open (a quote spans lines, or a line ends in a backslash). */
function isOpen(lines: string[]): boolean {
  return continues(lines.join('\n'));
}

/** A block's commands, each a step; `# → …` lines right after a command are what it does. */
export function parseSteps(block: DocBlock): DocStep[] {
  const steps: DocStep[] = [];
  let command: string[] = [];
  let expected: string[] = [];
  let first = 0;
  const flush = () => {
    if (command.length > 0) {
      const exit = expected.length > 0 ? /^exit (\d+)$/.exec(expected[0]!.trim()) : null;
      const output = exit ? expected.slice(1) : expected;
      steps.push({
        line: first,
        script: command.join('\n'),
        exitCode: exit ? Number(exit[1]) : 0,
        output: output.length > 0 ? output.join('\n') : null,
      });
    }
    command = [];
    expected = [];
  };
  block.code.split('\n').forEach((text, k) => {
    const m = EXPECT.exec(text);
    if (command.length > 0 && isOpen(command)) command.push(text);
    else if (m && command.length > 0) expected.push(m[1]!);
    else if (m) throw new Error(`${block.file}:${block.line + 1 + k}: "# →" with no command above it`);
    else if (text.trim() === '' || text.trim().startsWith('#')) flush();
    else {
      flush();
      command = [text];
      first = block.line + 1 + k;
    }
  });
  flush();
  return steps;
}

/**
 * Whether `actual` is what the text says: the whole output, whitespace ignored (curl prints
 * compact JSON, the docs space it out), `…` standing for any text.
 */
export function outputMatches(expected: string, actual: string): boolean {
  const squash = (s: string) => s.replace(/\s+/g, '');
  const pattern = squash(expected)
    .split('…')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('[\\s\\S]*?');
  return new RegExp(`^${pattern}$`).test(squash(actual));
}

/** A port nobody listens on now (the examples' 8787 is mapped to it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function isPortOpen(port: number): Promise<boolean> {
  try {
    await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) });
    return true;
  } catch {
    return false;
  }
}

/** Signals the process group `pgid` leads; never a group id below 2 (0 would be our own group). */
function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  if (!Number.isInteger(pgid) || pgid < 2) throw new Error(`refusing to signal process group ${pgid}`);
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

export interface StepResult {
  exitCode: number;
  output: string;
  /** commands that failed although the text does not say they do: "status<TAB>command" */
  failed: string[];
}

/** One bash per Markdown file, as one terminal of a reader; servers run in the background in their own sessions. */
export class DocSession {
  readonly dir = mkdtempSync(join(tmpdir(), 'owd-doctest-'));
  private readonly bash: ChildProcessWithoutNullStreams;
  private stdout = '';
  private steps = 0;
  private serverCount = 0;
  private servers: { pid: number; log: string }[] = [];
  private scratchCopy: string | null = null;

  constructor(
    readonly repo: string,
    readonly port: number,
    env: Record<string, string>,
  ) {
    // the examples' mktemp goes here (readable by the user a re-test runs as), and so is found again at close()
    chmodSync(this.dir, 0o755);
    mkdirSync(join(this.dir, 'tmp'), { mode: 0o755 });
    this.bash = spawn('bash', ['--noprofile', '--norc'], { cwd: repo, env: { ...env, TMPDIR: join(this.dir, 'tmp') }, detached: true });
    this.bash.stdout.on('data', (d: Buffer) => (this.stdout += d.toString()));
    this.bash.stderr.on('data', (d: Buffer) => (this.stdout += d.toString()));
    // every failing command is recorded, so a broken command in the middle of a step is not hidden by a later success
    this.bash.stdin.write(`set -o pipefail; trap 'printf "%s\\t%s\\n" "$?" "$BASH_COMMAND" >> "\${__doctest_errs:-/dev/null}"' ERR\n`);
  }

  /** Runs `script` in the session; `inScratch` runs it in a copy of the checkout (for an example that writes files). */
  async run(script: string, opts: { timeoutMs?: number; inScratch?: boolean; isLastOfBlock?: boolean } = {}): Promise<StepResult> {
    const n = ++this.steps;
    const file = join(this.dir, `step-${n}.sh`);
    const errs = join(this.dir, `err-${n}`);
    const cd = opts.inScratch ? `cd ${this.scratch()}\n` : '';
    writeFileSync(file, `__doctest_errs=${errs}\n${cd}${script.replace(/\b8787\b/g, String(this.port))}\n`);
    writeFileSync(errs, '');
    const back = opts.isLastOfBlock ? `cd ${this.repo}; ` : '';
    this.bash.stdin.write(
      `. ${file} > ${this.dir}/out-${n} 2>&1 < /dev/null; __rc=$?; __doctest_errs=/dev/null; ${back}echo "__doctest_done ${n} $__rc"\n`,
    );
    const done = new RegExp(`__doctest_done ${n} (\\d+)`);
    await waitFor(`step ${n} to finish`, () => done.test(this.stdout) || this.bash.exitCode !== null, {
      timeoutMs: opts.timeoutMs ?? 180_000,
      intervalMs: 50,
      describe: () => `output so far:\n${readFileSync(`${this.dir}/out-${n}`, 'utf8').slice(-2000)}`,
    });
    if (!done.test(this.stdout))
      throw new Error(`the shell ended during step ${n} (an example called exit?):\n${this.stdout.slice(-2000)}`);
    const failed = readFileSync(errs, 'utf8')
      .split('\n')
      .filter((l) => l !== '' && !l.includes(`\t. ${file}`));
    return { exitCode: Number(done.exec(this.stdout)![1]), output: readFileSync(`${this.dir}/out-${n}`, 'utf8'), failed };
  }

  /** Starts `script` in the background (a server block, or `exec node dist/src/server.js`) once the previous server is gone. */
  async startServer(script: string): Promise<void> {
    await this.stopServers();
    const k = ++this.serverCount;
    const file = join(this.dir, `server-${k}.sh`);
    const log = join(this.dir, `server-${k}.log`);
    const pidFile = join(this.dir, `server-${k}.pid`);
    // its own session, so stopping it reaches npm and node below it; $$ there is the session's id
    writeFileSync(file, `echo $$ > ${pidFile}\n${script.replace(/\b8787\b/g, String(this.port))}\n`);
    this.bash.stdin.write(`setsid bash ${file} > ${log} 2>&1 < /dev/null &\n`);
    await waitFor('the background server to start', () => existsSync(pidFile) && readFileSync(pidFile, 'utf8').endsWith('\n'), {
      timeoutMs: 10_000,
    });
    const pid = Number(readFileSync(pidFile, 'utf8'));
    this.servers.push({ pid, log });
    const isAlive = () => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    // 200 means the first tick finished: what a reader waits for before the next command
    await waitFor(
      `the server of ${file} to answer GET /healthz with 200`,
      async () => {
        if (!isAlive()) throw new Error(`the server exited:\n${readFileSync(log, 'utf8').slice(-3000)}`);
        const res = await fetch(`http://127.0.0.1:${this.port}/healthz`, { signal: AbortSignal.timeout(2000) }).catch(() => null);
        return res?.status === 200;
      },
      { timeoutMs: 90_000, intervalMs: 200, describe: () => readFileSync(log, 'utf8').slice(-3000) },
    );
  }

  async stopServers(): Promise<void> {
    for (const { pid } of this.servers.splice(0)) signalGroup(pid, 'SIGTERM');
    await waitFor('the server port to be free', async () => !(await isPortOpen(this.port)), { timeoutMs: 20_000, intervalMs: 100 });
  }

  async close(): Promise<void> {
    await this.stopServers().catch(() => undefined);
    this.killStrays();
    if (this.bash.exitCode === null) {
      this.bash.stdin.end();
      signalGroup(this.bash.pid!, 'SIGKILL');
    }
    rmSync(this.dir, { recursive: true, force: true });
    if (this.scratchCopy) rmSync(dirname(this.scratchCopy), { recursive: true, force: true });
  }

  /** Processes an example left behind (an orphaned test run it made in its mktemp dir): theirs, found by their cwd. */
  private killStrays(): void {
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        if (readlinkSync(`/proc/${name}/cwd`).startsWith(`${this.dir}/`)) process.kill(Number(name), 'SIGKILL');
      } catch {
        // gone, or not ours to read
      }
    }
  }

  /** A copy of every file git tracks (node_modules and dist linked), for examples that write into the checkout. */
  private scratch(): string {
    if (this.scratchCopy) return this.scratchCopy;
    const copy = join(mkdtempSync(join(tmpdir(), 'owd-doctest-copy-')), 'checkout');
    const files = spawnSync('git', ['ls-files', '-z'], { cwd: this.repo, encoding: 'utf8' }).stdout.split('\0').filter(Boolean);
    for (const f of files) {
      if (!existsSync(join(this.repo, f))) continue;
      mkdirSync(dirname(join(copy, f)), { recursive: true });
      cpSync(join(this.repo, f), join(copy, f));
    }
    for (const d of ['node_modules', 'dist']) symlinkSync(join(this.repo, d), join(copy, d));
    this.scratchCopy = copy;
    return copy;
  }
}
