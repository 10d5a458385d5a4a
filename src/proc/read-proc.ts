import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { open, readFile, readlink } from 'node:fs/promises';
import { promisify } from 'node:util';
import { parseStat, type ProcStat } from './parse-stat.js';

/** `read()`, or `fallback` when it throws: a /proc file vanishes with its process, or is not readable. */
export function orElse<T>(read: () => T, fallback: T): T {
  try {
    return read();
  } catch {
    return fallback;
  }
}

/** Synchronous on purpose: stat never takes the target's mmap lock (cmdline does), and kill loops poll it every few ms. */
export function readStat(pid: number, procRoot = '/proc'): ProcStat | null {
  // byte for byte: the kernel cuts comm at 15 bytes, possibly inside a UTF-8 sequence; the scan worker decodes alike
  return orElse(() => parseStat(readFileSync(`${procRoot}/${pid}/stat`, 'latin1')), null);
}

/** Asynchronous: cmdline takes the target's mmap lock, which a hung process may hold for long. null when gone. */
export async function readCmdline(pid: number, procRoot = '/proc', maxBytes = 4096): Promise<string[] | null> {
  let fh;
  try {
    fh = await open(`${procRoot}/${pid}/cmdline`, 'r');
    const buf = Buffer.alloc(maxBytes);
    return splitArgv(buf, (await fh.read(buf, 0, maxBytes, 0)).bytesRead);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ENOENT' || code === 'ESRCH') return null;
    throw err;
  } finally {
    await fh?.close();
  }
}

/** The NUL-separated argv in `buf[0, bytes)`; invalid UTF-8 becomes U+FFFD. */
export function splitArgv(buf: Buffer, bytes: number): string[] {
  let end = bytes;
  while (end > 0 && buf[end - 1] === 0) end -= 1;
  return end === 0 ? [] : buf.toString('utf8', 0, end).split('\0');
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
  const out = await promisify(execFile)('getconf', ['CLK_TCK'], { timeout: 2000 }).catch(() => null);
  const n = Number(out?.stdout.trim());
  return Number.isInteger(n) && n > 0 ? n : 100;
}

/** True when `procRoot` is the /proc of this process's pid namespace, so its pids can be signalled. */
export async function isOwnProcRoot(procRoot: string, selfPid = process.pid): Promise<boolean> {
  return (await readlink(`${procRoot}/self`).catch(() => null)) === String(selfPid);
}

export function processAgeS(startTicks: number, clock: { btimeS: number; clkTck: number; nowMs: number }): number {
  return Math.max(0, clock.nowMs / 1000 - (clock.btimeS + startTicks / clock.clkTck));
}

/** This boot's id: a (pid, starttime) saved before a reboot names nothing after it. null where it cannot be read. */
export function readBootId(procRoot = '/proc'): string | null {
  return orElse(() => readFileSync(`${procRoot}/sys/kernel/random/boot_id`, 'utf8').trim() || null, null);
}

/** The soft `Max open files` of a /proc/<pid>/limits text: Infinity when unlimited, null when unreadable. */
export function openFilesSoftLimit(limitsText: string): number | null {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(limitsText)?.[1];
  return m === undefined ? null : m === 'unlimited' ? Number.POSITIVE_INFINITY : Number(m);
}

/** This process's soft open-file limit (`ulimit -n`), or null where /proc/self/limits cannot be read. */
export function readOwnOpenFilesLimit(): number | null {
  return orElse(() => openFilesSoftLimit(readFileSync('/proc/self/limits', 'utf8')), null);
}
