import { spawn, type ChildProcess } from 'node:child_process';

/** The benches' children, each the leader of its own process group: killed with everything they started. */
const children = new Set<ChildProcess>();

export function killAllGroups(): void {
  for (const c of children) {
    try {
      process.kill(-c.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  children.clear();
}
process.on('exit', killAllGroups);

/** `cmd args` in a process group of its own, stdout piped (the caller reads or drains it), stderr shared. */
export function launchGroup(cmd: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  const c = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  children.add(c);
  c.once('exit', () => children.delete(c));
  return c;
}
