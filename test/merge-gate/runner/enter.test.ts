import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { carryEnv, ENTER_SH } from '../../../src/merge-gate/runner/enter.js';
import { findSubreaperHelper, type SubreaperHelper } from '../../../src/merge-gate/runner/subreaper.js';

/** The command prints its environment and then its open fds. */
const DUMP = ['/bin/sh', '-c', 'env; echo ---; ls /proc/$$/fd'];

/**
 * Runs the enter step (as root: the drop itself is setpriv's, tested through the runner) with
 * exactly the fds `openFds` open above 2, whatever this test process inherited: the C helper
 * closes everything first, then python opens those (writable, as a leaked pipe would be).
 */
async function enter(
  env: Record<string, string>,
  opts: { helper?: SubreaperHelper | null; openFds?: number[]; cwd?: string; command?: string[] } = {},
) {
  const clean = (await findSubreaperHelper('c'))!.closeFdsPrefix;
  // python3 -c: PYTHONCOERCECLOCALE=0 (carried) keeps it from exporting LC_CTYPE; dup2 targets are inheritable.
  const open =
    'import os, sys\nfor fd in sys.argv[1].split():\n    os.dup2(os.open("/dev/null", os.O_WRONLY), int(fd))\nos.execv(sys.argv[2], sys.argv[2:])';
  const chain = [
    ...(opts.helper?.closeFdsPrefix ?? []),
    '/bin/sh',
    '-c',
    ENTER_SH,
    'orch-watchdog-enter',
    opts.cwd ?? '/tmp',
    ...(opts.command ?? DUMP),
  ];
  const argv = [...clean, '/usr/bin/python3', '-c', open, (opts.openFds ?? []).join(' '), ...chain];
  const r = spawnSync(argv[0]!, argv.slice(1), {
    cwd: '/',
    env: carryEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    timeout: 30_000,
  });
  const [envText = '', fdText = ''] = r.stdout.split('---\n');
  const vars = Object.fromEntries(
    envText
      .split('\n')
      .filter((l) => /^[A-Za-z_]\w*=/.test(l))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, vars, fds: fdText.split(/\s+/).filter(Boolean).map(Number) };
}

describe('the enter step: cwd, environment and fds of the command', () => {
  it('the command gets exactly the carried variables and PWD, nothing of the carrying ones; cd happens before it', async () => {
    const r = await enter(
      { PATH: '/usr/bin:/bin', HOME: '/home/ci', LANG: 'C.UTF-8', EMPTY: '' },
      { command: ['/bin/sh', '-c', 'env; echo ---; pwd'] },
    );
    expect(r.status).toBe(0);
    expect(r.vars).toEqual({ PATH: '/usr/bin:/bin', HOME: '/home/ci', LANG: 'C.UTF-8', EMPTY: '', PWD: '/tmp' });
  });

  it('a value with newlines, quotes, $ and backquotes arrives byte for byte', async () => {
    const tricky = 'a b\n"c" $HOME `id` \\ \'d\'\n';
    const r = await enter({ PATH: '/usr/bin:/bin', TRICKY: tricky, IFS: 'x' }, { command: ['/bin/sh', '-c', 'printf %s "$TRICKY"'] });
    expect(r.stdout).toBe(tricky);
  });

  it('a cwd the account cannot enter, and a command it cannot find, end before the command with 126 and 127', async () => {
    const gone = await enter({ PATH: '/usr/bin:/bin' }, { cwd: '/nonexistent/checkout' });
    expect([gone.status, gone.stderr]).toEqual([126, 'orch-watchdog: the account cannot enter /nonexistent/checkout\n']);
    const missing = await enter({ PATH: '/usr/bin:/bin' }, { command: ['no-such-program-owd'] });
    expect([missing.status, missing.stderr]).toEqual([127, 'orch-watchdog: no-such-program-owd: command not found\n']);
  });

  it('without a helper it closes fds 3..9 itself, and refuses to run the command past one above 9', async () => {
    const low = await enter({ PATH: '/usr/bin:/bin' }, { openFds: [3, 4, 7, 9] });
    expect(low.fds).toEqual([0, 1, 2]);
    const high = await enter({ PATH: '/usr/bin:/bin' }, { openFds: [4, 12] });
    expect(high.status).toBe(126);
    expect(high.stderr).toMatch(/^orch-watchdog: \/proc\/self\/fd\/12 is open and would reach the command/);
    expect(high.vars).toEqual({});
  });

  for (const kind of ['c', 'python'] as const) {
    it(`${kind} helper: --close-fds closes every fd above 2 first, so nothing inherited reaches the command`, async () => {
      const helper = await findSubreaperHelper(kind);
      expect(helper?.kind).toBe(kind);
      const r = await enter({ PATH: '/usr/bin:/bin' }, { helper, openFds: [3, 4, 9, 10, 40, 255] });
      expect(r.stderr).toBe('');
      expect(r.fds).toEqual([0, 1, 2]);
      // python would otherwise export LC_CTYPE=C.UTF-8 (PEP 538) to what it runs.
      expect(r.vars).toEqual({ PATH: '/usr/bin:/bin', PWD: '/tmp' });
    });
  }
});
