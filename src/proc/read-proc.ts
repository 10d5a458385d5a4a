import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { open, readFile, readlink } from 'node:fs/promises';
import { promisify } from 'node:util';
import { parseStat, type ProcStat } from './parse-stat.js';

/** Byte for byte: the kernel cuts comm at 15 bytes, possibly inside a UTF-8 sequence; the worker decodes alike. */
const STAT_ENCODING = 'latin1';

/** Synchronous on purpose: stat never takes the target's mmap lock (cmdline does), and kill loops poll it every few ms. */
export function readStat(pid: number, procRoot = '/proc'): ProcStat | null {
  try {
    return parseStat(readFileSync(`${procRoot}/${pid}/stat`, STAT_ENCODING));
  } catch {
    return null;
  }
}

const isGone = (err: unknown): boolean => {
  const code = (err as { code?: string }).code;
  return code === 'ENOENT' || code === 'ESRCH';
};

/** Asynchronous: cmdline takes the target's mmap lock, which a hung process may hold for long. null when gone. */
export async function readCmdline(pid: number, procRoot = '/proc', maxBytes = 4096): Promise<string[] | null> {
  let fh;
  try {
    fh = await open(`${procRoot}/${pid}/cmdline`, 'r');
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

/** `btime` of <root>/stat: the boot time every starttime counts from. */
export async function readBootTimeS(procRoot = '/proc'): Promise<number> {
  const text = await readFile(`${procRoot}/stat`, 'utf8').catch((err: Error) => {
    throw new Error(`cannot read ${procRoot}/stat for the boot time: ${err.message}`);
  });
  const m = /^btime\s+(\d+)\s*$/m.exec(text);
  if (!m?.[1]) throw new Error(`${procRoot}/stat has no btime line`);
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

/** True when `procRoot` is the /proc of this process's pid namespace, so its pids can be signalled. */
export async function isOwnProcRoot(procRoot: string, selfPid = process.pid): Promise<boolean> {
  try {
    return (await readlink(`${procRoot}/self`)) === String(selfPid);
  } catch {
    return false;
  }
}

/** Seconds a process has been running, from its starttime. */
export function processAgeS(startTicks: number, clock: { btimeS: number; clkTck: number; nowMs: number }): number {
  return Math.max(0, clock.nowMs / 1000 - (clock.btimeS + startTicks / clock.clkTck));
}

/** This boot's id: a (pid, starttime) saved before a reboot names nothing after it. null where it cannot be read. */
export function readBootId(procRoot = '/proc'): string | null {
  try {
    return readFileSync(`${procRoot}/sys/kernel/random/boot_id`, 'utf8').trim() || null;
  } catch {
    return null;
  }
}
