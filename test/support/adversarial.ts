import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const FIXTURE = 'test/fixtures/runner/adversarial-tree.sh';

/** The adversarial tree of issue 6, next to this file or (compiled bench) under the project root. */
export const ADVERSARIAL_TREE =
  [fileURLToPath(new URL('../fixtures/runner/adversarial-tree.sh', import.meta.url)), join(process.cwd(), FIXTURE)].find((path) =>
    existsSync(path),
  ) ?? FIXTURE;

/** Names of the pid files the fixture writes before `ready` (the leader and its 23 descendants). */
export const EXPECTED_BEFORE_READY = 24;

export interface TreeRound {
  outDir: string;
  command: string[];
  cleanup(): void;
}

export function newTreeRound(): TreeRound {
  const outDir = mkdtempSync(join(tmpdir(), 'orch-wd-tree-'));
  return {
    outDir,
    command: ['/bin/sh', ADVERSARIAL_TREE, outDir],
    cleanup: () => rmSync(outDir, { recursive: true, force: true }),
  };
}

export function recordedPids(outDir: string): Map<string, number> {
  const pids = new Map<string, number>();
  for (const name of readdirSync(outDir)) {
    if (!name.endsWith('.pid')) continue;
    const pid = Number(readFileSync(join(outDir, name), 'utf8').trim());
    if (Number.isInteger(pid) && pid > 1) pids.set(name.slice(0, -4), pid);
  }
  return pids;
}

export function procState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return null;
  }
}

/** Running (not zombie) processes of the round: recorded pids, plus any whose argv names the round's dir. */
export function survivors(outDir: string): string[] {
  const alive: string[] = [];
  for (const [name, pid] of recordedPids(outDir)) {
    const state = procState(pid);
    if (state !== null && state !== 'Z' && state !== 'X') alive.push(`${name}(${pid})`);
  }
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (!cmdline.includes(outDir)) continue;
    const state = procState(Number(entry));
    const label = `pid ${entry}`;
    if (state !== null && state !== 'Z' && state !== 'X' && !alive.some((a) => a.endsWith(`(${entry})`))) alive.push(label);
  }
  return alive;
}

/** Last-resort cleanup so one failing test does not leave a tree running for the next. */
export function killRecorded(outDir: string): void {
  for (const pid of recordedPids(outDir).values()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}
