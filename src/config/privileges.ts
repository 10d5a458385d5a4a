import { accessSync, constants, readFileSync } from 'node:fs';
import type { ConfigWarning } from './checks.js';
import type { Config } from './keys.js';

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

/** Reads the facts for this process (its own /proc/self, never another's). */
export function readProcessFacts(config: Config): ProcessFacts {
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
  return {
    uid: process.getuid?.() ?? Number(statusField(status, 'Uid')?.split(/\s+/)[1] ?? -1),
    capabilities,
    dockerSocket: socketAccess(config.dockerSock),
    isProcHidden: isHiddenProcMount(mountinfo, config.procRoot),
  };
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
