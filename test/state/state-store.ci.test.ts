import { spawnSync } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StateLocked, StateStore, type StateSection } from '../../src/state/state-store.js';
import { capturedLog } from '../support/notify.js';
import { mountTmpfs } from '../support/tmpfs.js';

const NOBODY = 65534;

let dir: string;
let path: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'orch-watchdog-store-'));
  path = join(dir, 'state.json');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function section(name: string, initial: unknown = { n: 1 }): StateSection & { restored: unknown[]; value: unknown } {
  const s = {
    name,
    value: initial,
    restored: [] as unknown[],
    snapshot: () => s.value,
    restore: (data: unknown) => void s.restored.push(data),
  };
  return s;
}

function store(at = path, registry?: Registry): StateStore {
  return new StateStore({ path: at, clock: Date.now, log: capturedLog().log, intervalMs: 50, ...(registry && { registry }) });
}

const doc = (sections: Record<string, unknown>) => JSON.stringify({ format: 'orch-watchdog-state', version: 1, saved_at: '', sections });

describe('the state store', () => {
  it('round-trips every section through an atomic write; no temp file is left behind', async () => {
    const a = store();
    const s1 = section('one', { x: [1, 2] });
    a.register(s1);
    expect(await a.load()).toEqual([]);
    expect(await a.close()).toBe(true);
    expect((await readdir(dir)).sort()).toEqual(['state.json', 'state.json.lock']);
    const b = store();
    const s2 = section('one');
    b.register(s2);
    expect(await b.load()).toEqual([]);
    expect(s2.restored).toEqual([{ x: [1, 2] }]);
    await b.close();
  });

  it('a section that cannot take its data back starts fresh with a warning; the others are restored', async () => {
    await writeFile(path, doc({ bad: 1, good: 2 }));
    const b = store();
    const good = section('good');
    b.register({
      name: 'bad',
      snapshot: () => null,
      restore: () => {
        throw new Error('malformed');
      },
    });
    b.register(good);
    const warnings = await b.load();
    expect(warnings.map((w) => w.message)).toEqual(['section bad could not be restored (malformed); it starts fresh']);
    expect(good.restored).toEqual([2]);
    await b.close();
  });

  it.each([
    ['truncated', '{"format":"orch-watchdog-state","vers', /not valid JSON/],
    ['foreign version', JSON.stringify({ format: 'orch-watchdog-state', version: 2, sections: {} }), /version 2/],
    ["another program's file", '[1,2,3]', /not an orch-watchdog state file/],
  ])('a %s file of ours is a warning and moved aside; the store then works', async (_what, content, why) => {
    await writeFile(path, content);
    const s = store();
    const warnings = await s.load();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toMatch(why);
    expect((await readdir(dir)).some((f) => f.startsWith('state.json.unusable-'))).toBe(true);
    expect(await s.close()).toBe(true);
  });

  it('writes on the interval only when something changed', async () => {
    const a = store();
    const s = section('one', 1);
    a.register(s);
    await a.load();
    a.start();
    await a.save();
    const first = await readFile(path, 'utf8');
    s.value = 2;
    await a.save();
    expect(await readFile(path, 'utf8')).not.toBe(first);
    await a.close();
  });
});

describe('a state file that anyone could have written is refused (sshd StrictModes); memory only, the file untouched', () => {
  const planted = doc({ one: { planted: true } });
  it.each([
    ['the file belongs to another user', async () => chown(path, NOBODY, NOBODY), /owned by uid 65534, not by the watchdog's uid 0/],
    ['the file is writable by others', async () => chmod(path, 0o622), /writable by group or others \(mode 0622\)/],
    ['the directory belongs to another user', async () => chown(dir, NOBODY, NOBODY), /the directory .* is owned by uid 65534/],
    ['the directory is group-writable', async () => chmod(dir, 0o770), /the directory .* is writable by group or others \(mode 0770\)/],
    ['the directory is /tmp-like: sticky and world-writable', async () => chmod(dir, 0o1777), /writable by group or others \(mode 1777\)/],
    [
      'the lock file belongs to another user',
      async () => writeFile(`${path}.lock`, '1\n').then(() => chown(`${path}.lock`, NOBODY, NOBODY)),
      /state\.json\.lock is owned by uid 65534/,
    ],
  ])('%s', async (_what, plant, why) => {
    await writeFile(path, planted, { mode: 0o600 });
    await plant();
    const before = await stat(path);
    const s = store();
    const one = section('one', { mine: true });
    s.register(one);
    const warnings = await s.load();
    expect(warnings.map((w) => w.message)).toEqual([expect.stringMatching(why)]);
    expect(warnings[0]!.message).toMatch(/^refused: .*memory only/);
    expect(one.restored).toEqual([]);
    expect(s.health()).toMatchObject({ ok: false, lastSavedAt: null, error: expect.stringMatching(why) });
    s.start();
    expect(await s.save()).toBe(false);
    expect(await s.close()).toBe(false);
    expect(await readFile(path, 'utf8')).toBe(planted);
    expect((await stat(path)).mtimeMs).toBe(before.mtimeMs);
  });

  it('an ancestor directory that others can write (not sticky) is refused; a sticky one (/tmp) above a 0700 directory of ours is fine', async () => {
    const inner = join(dir, 'inner');
    await mkdir(inner, { mode: 0o700 });
    await chmod(dir, 0o777);
    const s = store(join(inner, 'state.json'));
    expect((await s.load())[0]!.message).toMatch(new RegExp(`its ancestor ${dir} is writable by group or others and not sticky`));
    await chmod(dir, 0o1777);
    const t = store(join(inner, 'state.json'));
    expect(await t.load()).toEqual([]);
    expect(await t.close()).toBe(true);
  });

  it('a symbolic link is refused, never followed', async () => {
    const target = join(dir, 'elsewhere.json');
    await writeFile(target, planted);
    await symlink(target, path);
    const s = store();
    expect((await s.load())[0]!.message).toMatch(/is a symbolic link/);
    expect(await s.close()).toBe(false);
    expect(await readFile(target, 'utf8')).toBe(planted);
  });

  it('a symlinked directory on the way is resolved once, at the check: re-pointing the link later changes nothing', async () => {
    const mine = join(dir, 'mine');
    const theirs = join(dir, 'theirs');
    await mkdir(mine, { mode: 0o700 });
    await mkdir(theirs, { mode: 0o700 });
    const link = join(dir, 'link');
    await symlink(mine, link);
    const s = store(join(link, 'state.json'));
    const one = section('one', 'kept');
    s.register(one);
    expect(await s.load()).toEqual([]);
    await rm(link);
    await symlink(theirs, link);
    expect(await s.close()).toBe(true);
    expect((await readdir(mine)).sort()).toEqual(['state.json', 'state.json.lock']);
    expect(await readdir(theirs)).toEqual([]);
  });

  it('a path that names a directory is refused, not renamed aside', async () => {
    await mkdir(path);
    await writeFile(join(path, 'keep'), 'x');
    const s = store();
    expect((await s.load())[0]!.message).toMatch(/names a directory/);
    expect(await s.close()).toBe(false);
    expect(await readdir(path)).toEqual(['keep']);
    expect((await readdir(dir)).sort()).toEqual(['state.json']);
  });
});

describe('two watchdogs on one state file', () => {
  it('the second refuses to load, naming the pid that holds the lock; once the first closed, it loads', async () => {
    const first = store();
    await first.load();
    expect((await readFile(`${path}.lock`, 'utf8')).trim()).toBe(String(process.pid));
    const second = store();
    const refused = await second.load().then(
      () => null,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(StateLocked);
    expect((refused as StateLocked).holderPid).toBe(process.pid);
    expect((refused as Error).message).toMatch(new RegExp(`locked by another orch-watchdog \\(pid ${process.pid}\\)`));
    await first.close();
    const third = store();
    expect(await third.load()).toEqual([]);
    await third.close();
  });
});

describe('a full disk', () => {
  it('a failed save removes its temp file, keeps the old file, shows in health and metrics, and the next save succeeds once there is room', async () => {
    const disk = mountTmpfs(64);
    try {
      const at = join(disk.dir, 'state.json');
      const registry = new Registry();
      const s = store(at, registry);
      const one = section('one', 'first');
      s.register(one);
      await s.load();
      expect(await s.save()).toBe(true);
      const saved = await readFile(at, 'utf8');
      disk.fill();
      one.value = 'x'.repeat(8192);
      for (let i = 0; i < 5; i++) expect(await s.save()).toBe(false);
      expect((await readdir(disk.dir)).sort()).toEqual(['filler', 'state.json', 'state.json.lock']);
      expect(await readFile(at, 'utf8')).toBe(saved);
      expect(s.health()).toMatchObject({ ok: false, error: expect.stringMatching(/ENOSPC/) });
      const metrics = await registry.metrics();
      expect(metrics).toMatch(/^orch_watchdog_state_save_failures_total 5$/m);
      expect(metrics).toMatch(/^orch_watchdog_state_ok 0$/m);
      disk.free();
      expect(await s.save()).toBe(true);
      expect(JSON.parse(await readFile(at, 'utf8'))).toMatchObject({ sections: { one: 'x'.repeat(8192) } });
      expect(s.health()).toMatchObject({ ok: true, error: null, lastSavedAt: expect.any(Number) });
      const after = await registry.metrics();
      expect(after).toMatch(/^orch_watchdog_state_ok 1$/m);
      expect(after).toMatch(/^orch_watchdog_state_last_saved_timestamp_seconds \d{10}/m);
      const promtool = spawnSync('promtool', ['check', 'metrics'], { input: after, encoding: 'utf8' });
      expect(promtool.stdout + promtool.stderr).toBe('');
      await s.close();
    } finally {
      disk.unmount();
    }
  });
});
