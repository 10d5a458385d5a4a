import { describe, expect, it } from 'vitest';
import { createMatcher, programOf } from '../../../src/sources/proc/program.js';

describe('programOf: the program a process runs, not the text of its command line', () => {
  it.each([
    [['pytest', '-q'], 'pytest'],
    [['/usr/bin/pytest', 'tests/'], 'pytest'],
    [['python3', '/usr/bin/pytest', '-q'], 'pytest'],
    [['/usr/bin/python3', '-m', 'pytest', '-x'], 'pytest'],
    [['python3.12', '-u', '-m', 'pytest'], 'pytest'],
    [['python', '-um', 'pytest'], 'pytest'],
    [['python3', '-mpytest'], 'pytest'],
    [['python3', '-W', 'ignore', '-m', 'pytest'], 'pytest'],
    [['python3', '-X', 'dev', 'run_tests.py'], 'run_tests.py'],
    [['py.test', 'tests'], 'pytest'],
    [['pytest-3', 'tests'], 'pytest'],
    [['python3', '/usr/bin/py.test'], 'pytest'],
    [['python3', '-c', 'import pytest; pytest.main()'], 'python3'],
    [['python3'], 'python3'],
    [['claude', '-p', 'fix-the-failing-pytest-in-tests'], 'claude'],
    [['bash', '-c', 'cd /repo && pytest -q'], 'bash'],
    [['grep', '-r', 'pytest', '.'], 'grep'],
    [['tail', '-f', 'pytest.log'], 'tail'],
    [['vim', 'pytest-notes.md'], 'vim'],
    [['-bash'], 'bash'],
    [[], ''],
    [['npm exec vitest run test/pytest-runs.test.ts'], 'npm'],
    // a shell running a script file is that script; a command string, stdin or an interactive shell is the shell
    [['bash', 'run-pytest.sh'], 'run-pytest.sh'],
    [['/bin/sh', '/srv/ci/bin/pytest-all', '-x'], 'pytest-all'],
    [['bash', '-e', '-o', 'pipefail', './run-pytest.sh'], 'run-pytest.sh'],
    [['bash', '--norc', '--rcfile', 'x', '--', 'ci/pytest.sh'], 'pytest.sh'],
    [['dash', '-ec', 'pytest -q'], 'dash'],
    [['bash', '-s', 'pytest'], 'bash'],
    [['zsh', '-l'], 'zsh'],
    [['bash', '-i'], 'bash'],
    [['bash'], 'bash'],
  ])('%j -> %s', (argv, program) => {
    expect(programOf(argv)).toBe(program);
  });
});

describe('programOf: a retitled argv[0] (one string with spaces) is judged by its first word', () => {
  it.each([
    // setproctitle / perl $0: the title is the only element
    [['claude -p fix-the-failing-pytest-in-tests'], 'claude'],
    // exec -a TITLE CMD ARGS: the real arguments follow the title
    [['claude -p fix-the-failing-pytest-in-tests', '60'], 'claude'],
    [['  claude\t-p   fix-the-failing-pytest  '], 'claude'],
    [['claude -p fix/pytest-in-tests'], 'claude'],
    [['tail -f /var/log/pytest.log'], 'tail'],
    [['pytest -q tests/'], 'pytest'],
    [['pytest: worker gw0'], 'pytest:'],
    [['/usr/bin/pytest -q tests/', 'x'], 'pytest'],
    [['python3 -m pytest -x'], 'pytest'],
    [['python3 /usr/bin/pytest', '-q'], 'pytest'],
    [['-bash --login'], 'bash'],
    [[' '], ''],
    [['/usr/bin/pytest -q tests/test_a.py'], 'pytest'],
    // a title that ends in a path is still a title
    [['/usr/local/bin/claude -p fix tests/test_pytest.py'], 'claude'],
    [['/usr/local/bin/claude -p fix tests/pytest', '60'], 'claude'],
    // a venv's interpreter in a directory with spaces (pip's sh trampoline execs it by its path) is a path, not a title
    [['/home/u/My Project/.venv/bin/python', '/home/u/My Project/.venv/bin/pytest', '-q'], 'pytest'],
    [['./My Project/.venv/bin/python3.12', '-m', 'pytest'], 'pytest'],
  ])('%j -> %s', (argv, program) => {
    expect(programOf(argv)).toBe(program);
  });

  it('in program mode a retitled agent mentioning pytest is no candidate; WATCHDOG_PROC_MATCH=cmdline still matches it', () => {
    const program = createMatcher({ patterns: ['pytest'], exclude: [], mode: 'program' });
    const cmdline = createMatcher({ patterns: ['pytest'], exclude: [], mode: 'cmdline' });
    for (const argv of [['claude -p fix-the-failing-pytest-in-tests'], ['claude -p fix-the-failing-pytest-in-tests', '60']]) {
      expect(program.match(argv)).toBeNull();
      expect(cmdline.match(argv)).toBe('cmdline');
    }
    expect(program.match(['pytest -q tests/'])).toBe('program');
  });
});

describe('the matcher', () => {
  const argvOf = (line: string) => line.split(' ');

  it('program mode matches the program only; cmdline mode keeps the old whole-line rule', () => {
    const program = createMatcher({ patterns: ['pytest'], exclude: [], mode: 'program' });
    const cmdline = createMatcher({ patterns: ['pytest'], exclude: [], mode: 'cmdline' });
    for (const line of ['claude -p fix-the-failing-pytest', 'grep -r pytest .', 'tail -f pytest.log', 'bash -c pytest']) {
      expect(program.match(argvOf(line))).toBeNull();
      expect(cmdline.match(argvOf(line))).toBe('cmdline');
    }
    expect(program.match(argvOf('python3 /usr/bin/pytest -q'))).toBe('program');
  });

  it('WATCHDOG_PROC_EXCLUDE removes a known exception by its whole command line', () => {
    const m = createMatcher({ patterns: ['pytest'], exclude: ['--collect-only'], mode: 'program' });
    expect(m.match(argvOf('pytest --collect-only'))).toBeNull();
    expect(m.isExcluded(argvOf('sleep 5 --collect-only'))).toBe(true);
    expect(m.match(argvOf('pytest -q'))).toBe('program');
  });

  // Issue 14: `(a+)+$` on a process named `aaaa…!` pinned a core; a broken list must never widen to the default.
  it('runs a catastrophic-backtracking pattern in linear time', () => {
    const m = createMatcher({ patterns: ['(a+)+$'], exclude: [], mode: 'cmdline' });
    const t0 = performance.now();
    expect(m.match([`${'a'.repeat(4000)}!`])).toBeNull();
    expect(m.match(['aaaa'])).toBe('cmdline');
    expect(performance.now() - t0).toBeLessThan(500);
  });

  it('a pattern that cannot run linear-time turns matching off instead of widening', () => {
    const m = createMatcher({ patterns: ['pytest', '(a)\\1'], exclude: [], mode: 'program' });
    expect(m.broken).toEqual(['(a)\\1']);
    expect(m.match(['pytest'])).toBeNull();
  });
});
