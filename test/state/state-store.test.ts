import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StateStore, type StateSection } from '../../src/state/state-store.js';
import { capturedLog } from '../notify/support.js';

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

function store(): StateStore {
  return new StateStore({ path, clock: Date.now, log: capturedLog().log, intervalMs: 50 });
}

describe('the state store', () => {
  it('round-trips every section through an atomic write; no temp file is left behind', async () => {
    const a = store();
    const s1 = section('one', { x: [1, 2] });
    a.register(s1);
    await a.close();
    expect(await readdir(dir)).toEqual(['state.json']);
    const b = store();
    const s2 = section('one');
    b.register(s2);
    expect(await b.load()).toEqual([]);
    expect(s2.restored).toEqual([{ x: [1, 2] }]);
  });

  it('a section that cannot take its data back starts fresh with a warning; the others are restored', async () => {
    await writeFile(path, JSON.stringify({ format: 'orch-watchdog-state', version: 1, saved_at: '', sections: { bad: 1, good: 2 } }));
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
  });

  it.each([
    ['truncated', '{"format":"orch-watchdog-state","vers', /not valid JSON/],
    ['foreign version', JSON.stringify({ format: 'orch-watchdog-state', version: 2, sections: {} }), /version 2/],
    ["another program's file", '[1,2,3]', /not an orch-watchdog state file/],
  ])('a %s file is a warning and moved aside', async (_what, content, why) => {
    await writeFile(path, content);
    const warnings = await store().load();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toMatch(why);
    expect((await readdir(dir)).some((f) => f.startsWith('state.json.unusable-'))).toBe(true);
  });

  it('an unreadable path (a directory; root reads any mode) is a warning, never a throw', async () => {
    await mkdir(path);
    expect((await store().load())[0]!.message).toMatch(/cannot be read \(EISDIR\)/);
  });

  it('writes on the interval only when something changed', async () => {
    const a = store();
    const s = section('one', 1);
    a.register(s);
    a.start();
    await a.save();
    const first = await readFile(path, 'utf8');
    s.value = 2;
    await a.save();
    expect(await readFile(path, 'utf8')).not.toBe(first);
    await a.close();
  });
});
