import { execFile } from 'node:child_process';
import { open, readdir, readFile, readlink } from 'node:fs/promises';
import { promisify } from 'node:util';
import { isRunningState, parseStat, type ProcStat } from './parse-stat.js';

/** One process re-read right before it is signalled (async: the event loop keeps serving). */
export interface ProcessSnapshot {
  stat: ProcStat;
  argv: string[];
}

const isGone = (err: unknown): boolean => {
  const code = (err as { code?: string }).code;
  return code === 'ENOENT' || code === 'ESRCH';
};

export async function readStat(root: string, pid: number): Promise<ProcStat | null> {
  try {
    return parseStat(await readFile(`${root}/${pid}/stat`, 'latin1'));
  } catch (err) {
    if (isGone(err)) return null;
    throw err;
  }
}

export async function readCmdline(root: string, pid: number, maxBytes: number): Promise<string[] | null> {
  let fh;
  try {
    fh = await open(`${root}/${pid}/cmdline`, 'r');
    const buf = Buffer.alloc(maxBytes);
    const { bytesRead } = await fh.read(buf, 0, maxBytes, 0);
    let end = bytesRead;
    while (end > 0 && buf[end - 1] === 0) end -= 1;
    return end === 0 ? [] : buf.toString('utf8', 0, end).split('\0');
  } catch (err) {
    if (isGone(err)) return null;
    throw err;
  } finally {
    await fh?.close();
  }
}

/** null when the process is gone (or a zombie: it no longer runs anything). */
export async function readProcess(root: string, pid: number, cmdlineMaxBytes: number): Promise<ProcessSnapshot | null> {
  const stat = await readStat(root, pid);
  if (stat === null || !isRunningState(stat.state)) return null;
  const argv = await readCmdline(root, pid, cmdlineMaxBytes);
  if (argv === null) return null;
  return { stat, argv };
}

/** Every live process of a group (zombies excluded), read with bounded concurrency. */
export async function groupMembers(root: string, pgrp: number): Promise<ProcStat[]> {
  const names = (await readdir(root)).filter((n) => /^\d+$/.test(n));
  const members: ProcStat[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < names.length) {
      const pid = Number(names[next++]);
      const stat = await readStat(root, pid).catch(() => null);
      if (stat && stat.pgrp === pgrp && isRunningState(stat.state)) members.push(stat);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return members;
}

/** `btime` of <root>/stat: the boot time every starttime counts from. */
export async function readBootTimeS(root: string): Promise<number> {
  const text = await readFile(`${root}/stat`, 'utf8').catch((err: Error) => {
    throw new Error(`cannot read ${root}/stat for the boot time: ${err.message}`);
  });
  const m = /^btime\s+(\d+)\s*$/m.exec(text);
  if (!m?.[1]) throw new Error(`${root}/stat has no btime line`);
  return Number(m[1]);
}

/** CLK_TCK of this machine (`getconf CLK_TCK`); 100, the Linux default, when getconf fails. */
export async function readClockTicks(): Promise<number> {
  try {
    const { stdout } = await promisify(execFile)('getconf', ['CLK_TCK'], { timeout: 2000 });
    const n = Number(stdout.trim());
    return Number.isInteger(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
}

/** True when `root` is the /proc of this process's pid namespace, so its pids can be signalled. */
export async function isOwnProcRoot(root: string, selfPid: number): Promise<boolean> {
  try {
    return (await readlink(`${root}/self`)) === String(selfPid);
  } catch {
    return false;
  }
}

/** The watchdog and its ancestors (pids and process groups): never signalled. */
export async function protectedSet(root: string, selfPid: number): Promise<{ pids: Set<number>; pgrps: Set<number> }> {
  const pids = new Set<number>([selfPid]);
  const pgrps = new Set<number>();
  let pid = selfPid;
  for (let depth = 0; depth < 64 && pid > 0; depth += 1) {
    const stat = await readStat(root, pid).catch(() => null);
    if (stat === null) break;
    pids.add(stat.pid);
    pgrps.add(stat.pgrp);
    pid = stat.ppid;
  }
  return { pids, pgrps };
}
