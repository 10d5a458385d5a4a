import { readFileSync } from 'node:fs';

/** The soft `Max open files` of a /proc/<pid>/limits text: Infinity when unlimited, null when unreadable. */
export function openFilesSoftLimit(limitsText: string): number | null {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(limitsText);
  if (!m?.[1]) return null;
  return m[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(m[1]);
}

/** This process's soft open-file limit (`ulimit -n`), or null where /proc/self/limits cannot be read. */
export function readOwnOpenFilesLimit(): number | null {
  try {
    return openFilesSoftLimit(readFileSync('/proc/self/limits', 'utf8'));
  } catch {
    return null;
  }
}
