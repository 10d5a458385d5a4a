import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { carryEnv, ENTER_SH } from '../../src/runner/account.js';
import { defaultKillEnvironment } from '../../src/runner/launch.js';

const HELPER = defaultKillEnvironment().subreaper();

/** The command prints its environment and then its open fds. */
const DUMP = ['/bin/sh', '-c', 'env; echo ---; ls /proc/$$/fd'];

/**
 * Runs the enter step (as root: the drop itself is setpriv's, tested through the runner) with
 * exactly the fds `openFds` open above 2, whatever this test process inherited: the helper
 * closes everything first, then python opens those (writable, as a leaked pipe would be).
 */
function enter(env: Record<string, string>, opts: { helper?: string | null; openFds?: number[]; cwd?: string; command?: string[] } = {}) {
  const clean = [HELPER!, '--close-fds'];
  // python3 -c: dup2 targets are inheritable; the LC_CTYPE python exports for a C locale (PEP 538) is not passed on.
  const open =
    'import os, sys\nfor fd in sys.argv[1].split():\n    os.dup2(os.open("/dev/null", os.O_WRONLY), int(fd))\nos.environ.pop("LC_CTYPE", None)\nos.execv(sys.argv[2], sys.argv[2:])';
  const chain = [
    ...(opts.helper ? [opts.helper, '--close-fds'] : []),
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
  it('the command gets exactly the carried variables and PWD, nothing of the carrying ones; cd happens before it', () => {
    const r = enter(
      { PATH: '/usr/bin:/bin', HOME: '/home/ci', LANG: 'C.UTF-8', EMPTY: '' },
      { command: ['/bin/sh', '-c', 'env; echo ---; pwd'] },
    );
    expect(r.status).toBe(0);
    expect(r.vars).toEqual({ PATH: '/usr/bin:/bin', HOME: '/home/ci', LANG: 'C.UTF-8', EMPTY: '', PWD: '/tmp' });
  });

  it('a value with newlines, quotes, $ and backquotes arrives byte for byte', () => {
    const tricky = 'a b\n"c" $HOME `id` \\ \'d\'\n';
    const r = enter({ PATH: '/usr/bin:/bin', TRICKY: tricky, IFS: 'x' }, { command: ['/bin/sh', '-c', 'printf %s "$TRICKY"'] });
    expect(r.stdout).toBe(tricky);
  });

  it('a cwd the account cannot enter, and a command it cannot find, end before the command with 126 and 127', () => {
    const gone = enter({ PATH: '/usr/bin:/bin' }, { cwd: '/nonexistent/checkout' });
    expect([gone.status, gone.stderr]).toEqual([126, 'orch-watchdog: the account cannot enter /nonexistent/checkout\n']);
    const missing = enter({ PATH: '/usr/bin:/bin' }, { command: ['no-such-program-owd'] });
    expect([missing.status, missing.stderr]).toEqual([127, 'orch-watchdog: no-such-program-owd: command not found\n']);
  });

  it('without a helper it closes fds 3..9 itself, and refuses to run the command past one above 9', () => {
    const low = enter({ PATH: '/usr/bin:/bin' }, { openFds: [3, 4, 7, 9] });
    expect(low.fds).toEqual([0, 1, 2]);
    const high = enter({ PATH: '/usr/bin:/bin' }, { openFds: [4, 12] });
    expect(high.status).toBe(126);
    expect(high.stderr).toMatch(/^orch-watchdog: \/proc\/self\/fd\/12 is open and would reach the command/);
    expect(high.vars).toEqual({});
  });

  it('the helper: --close-fds closes every fd above 2 first, so nothing inherited reaches the command', () => {
    const r = enter({ PATH: '/usr/bin:/bin' }, { helper: HELPER, openFds: [3, 4, 9, 10, 40, 255] });
    expect(r.stderr).toBe('');
    expect(r.fds).toEqual([0, 1, 2]);
    expect(r.vars).toEqual({ PATH: '/usr/bin:/bin', PWD: '/tmp' });
  });
});
