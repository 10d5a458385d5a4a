import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseListening, parseLocks, readHeldLocks, readListeningPorts } from '../../src/proc/fds.js';
import { waitFor } from '../support/wait-for.js';

const children: ChildProcess[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

// holds an flock, forks a child that inherits the locked fd, and listens on a TCP port
const HOLDER = `
import fcntl, os, socket, sys, time
d = sys.argv[1]
f = open(os.path.join(d, 'suite.lock'), 'w')
fcntl.flock(f, fcntl.LOCK_EX)
s = socket.socket(socket.AF_INET6 if sys.argv[2] == '6' else socket.AF_INET)
s.bind(('::1' if sys.argv[2] == '6' else '127.0.0.1', 0)); s.listen()
child = os.fork()
if child == 0:
    time.sleep(60); os._exit(0)
open(os.path.join(d, 'ready'), 'w').write('%d %d' % (s.getsockname()[1], child))
time.sleep(60)
`;

async function holder(family: '4' | '6') {
  const dir = mkdtempSync(join(tmpdir(), 'locks-ports-'));
  dirs.push(dir);
  const child = spawn('python3', ['-c', HOLDER, dir, family], { stdio: 'ignore' });
  children.push(child);
  await waitFor(
    'the holder to lock and listen',
    () => existsSync(join(dir, 'ready')) && readFileSync(join(dir, 'ready'), 'utf8').includes(' '),
    { timeoutMs: 60_000 },
  );
  const [port, forked] = readFileSync(join(dir, 'ready'), 'utf8').split(' ').map(Number);
  return { dir, pid: child.pid!, port: port!, forked: forked! };
}

describe('locks of the pids asked for', () => {
  it('finds the flock by path for the locker and for a child that inherited the locked fd, and nothing for others', async () => {
    const h = await holder('4');
    try {
      const locks = readHeldLocks([h.pid, h.forked, process.pid]);
      expect(locks.get(h.pid)).toEqual([{ path: join(h.dir, 'suite.lock'), kind: 'flock write' }]);
      expect(locks.get(h.forked)).toEqual([{ path: join(h.dir, 'suite.lock'), kind: 'flock write' }]);
      expect(locks.has(process.pid)).toBe(false);
    } finally {
      process.kill(h.forked, 'SIGKILL');
    }
  });

  it('parses /proc/locks rows and leaves blocked waiters out', () => {
    const rows = parseLocks(
      '1: FLOCK  ADVISORY  WRITE 18401 fe:00:2146817 0 EOF\n1: -> FLOCK  ADVISORY  WRITE 18500 fe:00:2146817 0 EOF\n2: POSIX  ADVISORY  READ 77 00:2f:12 0 EOF\n',
    );
    expect(rows).toEqual([
      { type: 'FLOCK', access: 'WRITE', pid: 18401, majMin: 'fe:00', inode: 2146817 },
      { type: 'POSIX', access: 'READ', pid: 77, majMin: '00:2f', inode: 12 },
    ]);
  });
});

describe('listening TCP ports of the pids asked for', () => {
  it.each(['4', '6'] as const)('IPv%s: the port a process listens on, joined through its socket fds', async (family) => {
    const h = await holder(family);
    try {
      expect(readListeningPorts([h.pid]).get(h.pid)).toEqual([h.port]);
      // the forked child inherited the socket fd: it listens too
      expect(readListeningPorts([h.forked]).get(h.forked)).toEqual([h.port]);
    } finally {
      process.kill(h.forked, 'SIGKILL');
    }
  });

  it('parses LISTEN rows only', () => {
    const text = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1079 1 0 100 0 0 10 0
   1: 020200C0:98D0 507100CB:0050 01 00000000:00000000 03:00000000 00000000     0        0 2000 3 0`;
    expect([...parseListening(text)]).toEqual([[1079, 2024]]);
  });
});
