import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runProcess } from '../../src/runner/run.js';

vi.setConfig({ testTimeout: 60_000 });

const suffix = `${process.pid % 100000}`;
const USER = `owdrt${suffix}`;
const EXTRA_GROUP = `owdsup${suffix}`;
let uid = -1;
let gid = -1;
let extraGid = -1;

const sh = (cmd: string[]) => {
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
};

beforeAll(() => {
  sh(['groupadd', EXTRA_GROUP]);
  sh([
    'useradd',
    '--no-create-home',
    '--home-dir',
    `/nonexistent/${USER}`,
    '--shell',
    '/bin/sh',
    '--user-group',
    '--groups',
    EXTRA_GROUP,
    USER,
  ]);
  uid = Number(sh(['id', '-u', USER]));
  gid = Number(sh(['id', '-g', USER]));
  extraGid = Number(sh(['getent', 'group', EXTRA_GROUP]).split(':')[2]);
});

afterAll(() => {
  spawnSync('pkill', ['-KILL', '-u', USER]);
  spawnSync('userdel', [USER]);
  spawnSync('groupdel', [EXTRA_GROUP]);
});

// The test may name the file a re-test must not read; src/ never does.
const secretFile = `/proc/${process.pid}/environ`;
const probe = `id -u; id -g; id -G; echo "$HOME $USER $LOGNAME"; if cat ${secretFile} >/dev/null 2>&1; then echo READABLE; else echo DENIED; fi; if kill -0 $PPID 2>/dev/null; then echo CAN-SIGNAL-PARENT; else echo CANNOT-SIGNAL-PARENT; fi`;

describe('a re-test never runs with the watchdog identity', () => {
  for (const strategy of ['cgroup', 'subreaper', 'proc-sweep'] as const) {
    it(`${strategy}: runs as the given uid/gid with its own groups and HOME/USER/LOGNAME, and cannot read the watchdog's secrets`, async () => {
      process.env.WATCHDOG_TEST_SECRET = 'never-for-the-retest';
      const report = await runProcess({
        command: ['/bin/sh', '-c', probe],
        cwd: '/tmp',
        // The identity is the account's own, whatever the request says.
        env: { HOME: '/root', USER: 'root', LOGNAME: 'root' },
        runAs: { uid, gid },
        timeoutMs: 30_000,
        graceMs: 300,
        strategy,
      });
      const [u, g, groups, names, secret, parent] = report.result.stdout.trim().split('\n');
      expect(report.strategy).toBe(strategy);
      expect([Number(u), Number(g)]).toEqual([uid, gid]);
      expect(groups!.split(' ').map(Number).sort()).toEqual([gid, extraGid].sort());
      expect(names).toBe(`/nonexistent/${USER} ${USER} ${USER}`);
      expect(secret).toBe('DENIED');
      // The helper (or wrapper) above it stays ours: the re-test cannot kill it to escape.
      if (strategy !== 'proc-sweep') expect(parent).toBe('CANNOT-SIGNAL-PARENT');
      delete process.env.WATCHDOG_TEST_SECRET;
    });
  }

  it('a re-test as that user that tries to kill its helper is refused and its tree still dies on timeout', async () => {
    const report = await runProcess({
      command: [
        '/bin/sh',
        '-c',
        '(setsid sh -c "while :; do sleep 0.05; done" &); kill -KILL $PPID; echo "kill: $?"; while :; do sleep 0.05; done',
      ],
      cwd: '/tmp',
      runAs: { uid, gid },
      timeoutMs: 1_500,
      graceMs: 300,
      strategy: 'subreaper',
    });
    expect(report.result.stdout).toBe('kill: 1\n');
    expect(report.result.timed_out).toBe(true);
    expect(report.strategy).toBe('subreaper');
    expect(report.receipt.survivors).toEqual([]);
    expect(spawnSync('pgrep', ['-u', USER]).stdout.toString()).toBe('');
  });
});
