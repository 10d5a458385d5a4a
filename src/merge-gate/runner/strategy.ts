import { CgroupManager, type RunCgroup } from './cgroup.js';
import { findSubreaperHelper, type SubreaperHelper, type SubreaperKind } from './subreaper.js';
import type { KillStrategy } from '../types.js';

/** What this host offers, probed once per process and shared by every run. */
export class KillEnvironment {
  readonly cgroups: CgroupManager;
  private helper: Promise<SubreaperHelper | null> | null = null;

  /**
   * `procRoot` is where /proc/self/{mountinfo,cgroup} are read; `preferSubreaper` picks the
   * helper kind; `cgroups` replaces the manager (tests force a failed join with it).
   */
  constructor(
    procRoot = '/proc',
    private readonly preferSubreaper?: SubreaperKind,
    cgroups?: CgroupManager,
  ) {
    this.cgroups = cgroups ?? new CgroupManager(procRoot);
  }

  subreaper(): Promise<SubreaperHelper | null> {
    this.helper ??= findSubreaperHelper(this.preferSubreaper).catch(() => null);
    return this.helper;
  }

  async dispose(): Promise<void> {
    await this.cgroups.dispose();
  }
}

let defaultEnv: KillEnvironment | null = null;
export function defaultKillEnvironment(): KillEnvironment {
  defaultEnv ??= new KillEnvironment();
  return defaultEnv;
}

export interface Chosen {
  strategy: KillStrategy;
  cgroup: RunCgroup | null;
  helper: SubreaperHelper | null;
  /** Why better strategies were not used. */
  reasons: string[];
}

/**
 * The best strategy at or below `start`, skipping those in `excluded` (a cgroup whose join
 * failed): cgroup.kill, then the subreaper helper, then the /proc sweep.
 */
export async function chooseStrategy(
  start: Exclude<KillStrategy, 'single'>,
  killEnv: KillEnvironment,
  excluded: ReadonlySet<KillStrategy>,
  reasons: string[],
): Promise<Chosen> {
  if (start === 'cgroup' && !excluded.has('cgroup')) {
    const support = await killEnv.cgroups.detect();
    const cgroup = support.ok ? await killEnv.cgroups.create() : null;
    // The helper stays outside the cgroup: cgroup.kill spares it, so it still reports the command's status,
    // and an escapee that left the cgroup is still its descendant.
    if (cgroup) return { strategy: 'cgroup', cgroup, helper: excluded.has('subreaper') ? null : await killEnv.subreaper(), reasons };
    reasons.push(support.ok ? 'cgroup: could not create the run cgroup' : `cgroup: ${support.reason}`);
  }
  if ((start === 'cgroup' || start === 'subreaper') && !excluded.has('subreaper')) {
    const helper = await killEnv.subreaper();
    if (helper) return { strategy: 'subreaper', cgroup: null, helper, reasons };
    reasons.push('subreaper: neither a C compiler nor python3 found');
  }
  return { strategy: 'proc-sweep', cgroup: null, helper: null, reasons };
}
