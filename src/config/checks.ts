import { accessSync, constants, readFileSync } from 'node:fs';
import { REDACTED } from '../redact.js';
import { KEY_SPECS, type Config } from './keys.js';
import { NOTIFIER_NAMES, type NotifierName } from './parsers.js';

export interface ConfigWarning {
  key: string;
  /** The offending value as it may be shown: `***` for secrets, scheme and host only for URLs. */
  value: string;
  message: string;
}

const isUnset = (v: unknown) => v === '' || (Array.isArray(v) && v.length === 0);

/** Empty = log plus every fully configured integration. A half-configured or left-out one warns: silent, it goes unnoticed. */
export function resolveNotifiers(c: Config, warnings: ConfigWarning[]): NotifierName[] {
  const explicit = c.notifiers.length > 0;
  const chosen: NotifierName[] = explicit ? [...c.notifiers] : ['log'];
  for (const name of NOTIFIER_NAMES.filter((n) => n !== 'log')) {
    const settings = KEY_SPECS.filter((s) => s.requiredBy === name);
    const missing = settings.filter((s) => isUnset(c[s.field])).map((s) => s.key);
    const anySet = missing.length < settings.length;
    if (explicit && c.notifiers.includes(name)) {
      for (const key of missing)
        warnings.push({ key, value: '', message: `WATCHDOG_NOTIFIERS names ${name} but ${key} is empty; ${name} is off` });
    } else if (explicit && anySet) {
      warnings.push({
        key: 'WATCHDOG_NOTIFIERS',
        value: c.notifiers.join(','),
        message: `${name} settings are present but the list leaves ${name} out; nothing is sent to ${name} (add it, or leave WATCHDOG_NOTIFIERS empty)`,
      });
    } else if (!explicit && missing.length === 0) {
      chosen.push(name);
    } else if (!explicit && anySet) {
      for (const key of missing) warnings.push({ key, value: '', message: `${name} is partly set up but ${key} is empty; ${name} is off` });
    }
  }
  return chosen;
}

/** Settings that parse on their own but do not fit together: reported, never fatal. */
export function crossCheck(c: Config, failedKeys: ReadonlySet<string>, warnings: ConfigWarning[]): void {
  if (c.procReapEnabled && c.procReapAgeMin < c.procAgeMin) {
    warnings.push({
      key: 'WATCHDOG_PROC_REAP_AGE_MIN',
      value: String(c.procReapAgeMin),
      message: 'is below WATCHDOG_PROC_AGE_MIN: processes would be reaped before anyone is alerted',
    });
  }
  // Without its exclusions the list would take processes the operator meant to protect.
  if (failedKeys.has('WATCHDOG_PROC_EXCLUDE') && c.procPatterns.length > 0) {
    c.procPatterns = [];
    warnings.push({
      key: 'WATCHDOG_PROC_PATTERNS',
      value: '',
      message: 'matching is off because WATCHDOG_PROC_EXCLUDE is broken; the scan matches nothing and the reaper is off',
    });
  } else if (c.procEnabled && c.procPatterns.length === 0 && !failedKeys.has('WATCHDOG_PROC_PATTERNS')) {
    warnings.push({ key: 'WATCHDOG_PROC_PATTERNS', value: '', message: 'is empty: the /proc scan matches nothing and the reaper is off' });
  }
  // A collector gets at most three tick intervals (docs/behaviour.md): a longer timeout can never be reached.
  if (c.httpTimeoutS > 3 * c.tickS) {
    warnings.push({
      key: 'WATCHDOG_HTTP_TIMEOUT_S',
      value: String(c.httpTimeoutS),
      message: `is longer than 3 × WATCHDOG_TICK_S (${Number((3 * c.tickS).toFixed(3))} s), the most a collector may take: outbound calls are cut to what is left of that budget`,
    });
  }
  if (c.orchContainer !== '' && c.metricsUrl === '') {
    warnings.push({
      key: 'WATCHDOG_ORCH_CONTAINER',
      value: c.orchContainer,
      message: 'is set but WATCHDOG_METRICS_URL is empty: without the envelope there are no agent pids to translate',
    });
  }
  if (c.killGraceS >= c.mergeRetestTimeoutS) {
    warnings.push({
      key: 'WATCHDOG_KILL_GRACE_S',
      value: String(c.killGraceS),
      message: 'is not shorter than WATCHDOG_MERGE_RETEST_TIMEOUT_S: a timed-out re-test would wait longer for its kill than it ran',
    });
  }
}

/** docker-compose.yml's publish address: compose reads it from .env, and `env_file: .env` hands it to the container too. */
const COMPOSE_KEYS = ['WATCHDOG_PUBLISH'];

/** Edit distance with adjacent transpositions (TIKC → TICK is one edit). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** The known key nearest to `key`, when it is near enough to be a typo of it. */
function closestKey(key: string, known: readonly string[]): string | null {
  const upper = key.toUpperCase();
  // sort is stable: of equally near keys the first declared wins
  const [best] = known.map((k) => ({ key: k, distance: editDistance(upper, k) })).sort((a, b) => a.distance - b.distance);
  return best !== undefined && best.distance <= 3 ? best.key : null;
}

/** WATCHDOG_* variables that are no key (a silent misspelling otherwise); the value is never shown: it may be a secret. */
export function unknownKeyWarnings(env: NodeJS.ProcessEnv, known: readonly string[]): ConfigWarning[] {
  const isKnown = new Set([...known, ...COMPOSE_KEYS]);
  return Object.keys(env)
    .filter((name) => name.toUpperCase().startsWith('WATCHDOG_') && !isKnown.has(name))
    .sort()
    .map((name) => {
      const near = closestKey(name, known);
      return {
        key: name,
        value: REDACTED,
        message: near
          ? `is not a known key; did you mean ${near}? (it is ignored)`
          : 'is not a known key; it is ignored (see .env.example)',
      };
    });
}

/** The capabilities the watchdog's actions need, by their bit in /proc/self/status CapEff. */
const CAPABILITY_BITS = { KILL: 5, SETGID: 6, SETUID: 7, SYS_PTRACE: 19 } as const;
export type Capability = keyof typeof CAPABILITY_BITS;

/** What this process may do, as the kernel says. */
export interface ProcessFacts {
  uid: number;
  /** Of the capabilities above, the ones in the effective set. */
  capabilities: ReadonlySet<Capability>;
  /** access(2) on WATCHDOG_DOCKER_SOCK for read and write (connecting to a socket needs write). */
  dockerSocket: 'ok' | 'denied' | 'absent';
  /** WATCHDOG_PROC_ROOT is a proc mount with hidepid: other users' processes are hidden from us. */
  isProcHidden: boolean;
}

function statusField(status: string, name: string): string | undefined {
  return new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1];
}

function socketAccess(path: string): ProcessFacts['dockerSocket'] {
  try {
    accessSync(path, constants.R_OK | constants.W_OK);
    return 'ok';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'absent' : 'denied';
  }
}

/** A proc mount at `root` whose options hide other users' processes (hidepid=1/2/invisible/noaccess). */
export function isHiddenProcMount(mountinfo: string, root: string): boolean {
  return mountinfo.split('\n').some((line) => {
    const [mountFields, superFields] = line.split(' - ');
    const mountPoint = mountFields?.split(' ')[4];
    const [fsType, , superOptions] = superFields?.split(' ') ?? [];
    return mountPoint === root && fsType === 'proc' && /(^|,)hidepid=(1|2|noaccess|invisible)(,|$)/.test(superOptions ?? '');
  });
}

/** What this process may not do of what `config` turns on (server and check-config); reads its own /proc/self, never another's. */
export function checkPrivileges(config: Config): ConfigWarning[] {
  let status = '';
  let mountinfo = '';
  try {
    status = readFileSync('/proc/self/status', 'utf8');
    mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    // not Linux, or no /proc: the checks below then see no capability and no hidden mount
  }
  const capEff = BigInt(`0x${statusField(status, 'CapEff')?.trim() || '0'}`);
  const capabilities = new Set(
    (Object.entries(CAPABILITY_BITS) as [Capability, number][]).filter(([, bit]) => (capEff >> BigInt(bit)) & 1n).map(([name]) => name),
  );
  return privilegeWarnings(config, {
    uid: process.getuid?.() ?? Number(statusField(status, 'Uid')?.split(/\s+/)[1] ?? -1),
    capabilities,
    dockerSocket: socketAccess(config.dockerSock),
    isProcHidden: isHiddenProcMount(mountinfo, config.procRoot),
  });
}

/** What the configuration turns on that this identity cannot do, each a warning like a malformed value. */
export function privilegeWarnings(config: Config, facts: ProcessFacts): ConfigWarning[] {
  const who = `the watchdog runs as uid ${facts.uid}`;
  const lacks = (...caps: Capability[]) => caps.filter((c) => !facts.capabilities.has(c));
  const warnings: ConfigWarning[] = [];
  const areWritesOn = config.apiToken !== '';
  const noSwitch = lacks('SETUID', 'SETGID');
  if (areWritesOn && noSwitch.length > 0) {
    warnings.push({
      key: 'WATCHDOG_MERGE_RUN_AS',
      value: config.mergeRunAs,
      message: `${who} without ${noSwitch.map((c) => `CAP_${c}`).join(' and ')}: a re-test cannot run as another user, and never runs as the watchdog's own (it could read its secrets), so every re-test is refused or fails to start; run the watchdog as root with CAP_SETUID, CAP_SETGID and CAP_KILL (README, "Deployment")`,
    });
  }
  if (config.procEnabled && (config.procReapEnabled || areWritesOn) && lacks('KILL').length > 0) {
    warnings.push({
      key: config.procReapEnabled ? 'WATCHDOG_PROC_REAP_ENABLED' : 'WATCHDOG_API_TOKEN',
      value: config.procReapEnabled ? 'true' : '***',
      message: `${who} without CAP_KILL: the reaper and POST /proc/candidates/:pid/terminate can signal only uid ${facts.uid}'s own processes; another user's test run is refused`,
    });
  }
  if (config.procEnabled && facts.isProcHidden && lacks('SYS_PTRACE').length > 0) {
    warnings.push({
      key: 'WATCHDOG_PROC_ROOT',
      value: config.procRoot,
      message: `is mounted with hidepid and ${who} without CAP_SYS_PTRACE: other users' processes are invisible, so their test runs are never seen`,
    });
  }
  if (config.containers.length > 0 && facts.dockerSocket === 'denied') {
    warnings.push({
      key: 'WATCHDOG_DOCKER_SOCK',
      value: config.dockerSock,
      message: `${who}, which may not connect to it (a socket needs read and write permission): every container check reports the engine unreachable; add the user to the socket's group`,
    });
  }
  return warnings;
}
