import { readFileSync, readlinkSync } from 'node:fs';
import { readFds } from './fds.js';

const TCP_LISTEN = '0A';

/** LISTEN rows of /proc/net/tcp or tcp6: socket inode -> local port. */
export function parseListening(text: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[3] !== TCP_LISTEN) continue;
    const port = parseInt(f[1]!.slice(f[1]!.lastIndexOf(':') + 1), 16);
    const inode = Number(f[9]);
    if (Number.isInteger(port) && inode > 0) out.set(inode, port);
  }
  return out;
}

function readListening(dir: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const file of ['tcp', 'tcp6']) {
    try {
      for (const [inode, port] of parseListening(readFileSync(`${dir}/${file}`, 'utf8'))) out.set(inode, port);
    } catch {
      // no IPv6, or the process is gone
    }
  }
  return out;
}

/** LISTEN rows of each namespace's tcp/tcp6 (read once) joined to the `socket:[inode]` fds of `pids`. */
export function readListeningPorts(pids: Iterable<number>, procRoot = '/proc'): Map<number, number[]> {
  const out = new Map<number, number[]>();
  const byNamespace = new Map<string, Map<number, number>>();
  for (const pid of pids) {
    const sockets = readFds(pid, procRoot)
      .map((fd) => /^socket:\[(\d+)\]$/.exec(fd.target)?.[1])
      .filter((s): s is string => s !== undefined);
    if (sockets.length === 0) continue;
    let ns: string;
    try {
      ns = readlinkSync(`${procRoot}/${pid}/ns/net`);
    } catch {
      ns = `pid:${pid}`;
    }
    let listening = byNamespace.get(ns);
    if (!listening) {
      listening = readListening(`${procRoot}/${pid}/net`);
      byNamespace.set(ns, listening);
    }
    const ports = [...new Set(sockets.map((s) => listening.get(Number(s))).filter((p): p is number => p !== undefined))].sort(
      (a, b) => a - b,
    );
    if (ports.length > 0) out.set(pid, ports);
  }
  return out;
}
