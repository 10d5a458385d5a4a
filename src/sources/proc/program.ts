import { enableLinearEngine } from '../../safe-regex.js';

// createMatcher compiles with the `l` flag, which exists only once the engine is on
enableLinearEngine();

export type MatchMode = 'program' | 'cmdline';

export interface MatcherOptions {
  /** WATCHDOG_PROC_PATTERNS, as regex sources */
  patterns: string[];
  /** WATCHDOG_PROC_EXCLUDE: over the whole command line; a match is never a candidate */
  exclude: string[];
  /** WATCHDOG_PROC_MATCH */
  mode: MatchMode;
}

export type Matcher = ReturnType<typeof createMatcher>;

/** The program a process runs: argv[0]'s basename; for a Python interpreter the module after `-m` or the script's basename
 * (`python3 /usr/bin/pytest` -> `pytest`); for a shell running a script file the script's basename (`bash run-pytest.sh`, a `#!/bin/sh`
 * script), but the shell itself for `-c`, stdin or an interactive shell; `py.test` and `pytest-3` are pytest. */
export function programOf(argv: readonly string[]): string {
  const base = (s: string): string => s.slice(s.lastIndexOf('/') + 1);
  const normal = (name: string): string => (/^(py\.test|pytest-\d[\d.]*)$/.test(name) ? 'pytest' : name);
  const isInterpreter = (name: string): boolean => /^(python|pypy)(\d+(\.\d+)*)?$/.test(name);
  // A retitled process (setproctitle, `exec -a`) carries a whole line in argv[0]: its first word is the program. Only an
  // interpreter's path may hold spaces (a venv's python in `My Project/`): a title ending in `…/test_pytest.py` is no path.
  const head = argv[0] ?? '';
  const isSpacedInterpreter = /^\.{0,2}\//.test(head) && isInterpreter(base(head));
  if (/\s/.test(head) && !isSpacedInterpreter) argv = [...head.trim().split(/\s+/), ...argv.slice(1)];
  const first = base(argv[0] ?? '').replace(/^-/, '');
  if (/^(ba|da|z|k|mk|a)?sh$/.test(first)) {
    for (let i = 1; i < argv.length; i += 1) {
      const arg = argv[i]!;
      if (arg === '--') return normal(base(argv[i + 1] ?? first));
      if (!/^[-+]/.test(arg)) return normal(base(arg));
      // -c (a command string) and -s (stdin) bundle with other letters: `-ec`, `-xs`
      if (/^[-+][A-Za-z]*[cs]/.test(arg) && !arg.startsWith('--')) return first;
      if (/^[-+][A-Za-z]*[oO]$/.test(arg) || arg === '--rcfile' || arg === '--init-file') i += 1;
    }
    return first;
  }
  if (!isInterpreter(first)) return normal(first);
  for (let i = 1; i < argv.length; i += 1) {
    const arg = argv[i]!;
    if (arg === '--') return normal(base(argv[i + 1] ?? first));
    if (arg.startsWith('--') || arg === '-') continue;
    if (!arg.startsWith('-')) return normal(base(arg));
    // short flags may be bundled (`-um pytest`); m, c, W and X take the rest or the next argument
    for (let k = 1; k < arg.length; k += 1) {
      const flag = arg[k];
      if (flag !== 'm' && flag !== 'c' && flag !== 'W' && flag !== 'X') continue;
      const value = k + 1 < arg.length ? arg.slice(k + 1) : (argv[++i] ?? '');
      if (flag === 'm') return normal(value);
      if (flag === 'c') return first;
      break;
    }
  }
  return first;
}

/** Linear-time patterns (the `l` flag): none backtracks on a hostile command line; one that cannot compile so turns matching off. */
export function createMatcher(opts: MatcherOptions) {
  const broken: string[] = [];
  const compile = (src: string): RegExp | null => {
    try {
      return new RegExp(src, 'l');
    } catch {
      broken.push(src);
      return null;
    }
  };
  const patterns = opts.patterns.map(compile).filter((r): r is RegExp => r !== null);
  const exclude = opts.exclude.map(compile).filter((r): r is RegExp => r !== null);
  const isOff = broken.length > 0 || patterns.length === 0;
  const isExcluded = (argv: readonly string[]): boolean => {
    if (exclude.length === 0) return false;
    const line = argv.join(' ');
    return exclude.some((re) => re.test(line));
  };
  const match = (argv: readonly string[]): MatchMode | null => {
    if (isOff || argv.length === 0) return null;
    const subject = opts.mode === 'cmdline' ? argv.join(' ') : programOf(argv);
    if (!patterns.some((re) => re.test(subject))) return null;
    return isExcluded(argv) ? null : opts.mode;
  };
  return { match, isExcluded, broken };
}
