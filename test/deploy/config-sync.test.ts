import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { defaultValue, KEY_SPECS, loadConfig } from '../../src/config.js';
import { parseEnvFile, readmeConfigTable } from '../support/text-files.js';

const envExample = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');
const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const docOf = (key: string) => KEY_SPECS.find((s) => s.key === key)?.doc;

describe('.env.example matches the config schema', () => {
  const entries = parseEnvFile(envExample);

  it('lists every WATCHDOG_* key of the schema exactly once, and no other', () => {
    const keys = entries.map((e) => e.key);
    expect(new Set(keys).size).toBe(keys.length);
    expect([...keys].sort()).toEqual(KEY_SPECS.map((s) => s.key).sort());
  });

  it('gives each key its schema default, so copying it to .env changes nothing', () => {
    for (const entry of entries) {
      expect({ key: entry.key, value: entry.value }).toEqual({ key: entry.key, value: defaultValue(entry.key as never) });
    }
  });

  it('explains each key with a comment line right above it: its declared meaning', () => {
    const undocumented = entries.filter((e) => e.comment.trim().length === 0).map((e) => e.key);
    expect(undocumented).toEqual([]);
    for (const entry of entries) expect({ key: entry.key, doc: entry.comment }).toEqual({ key: entry.key, doc: docOf(entry.key) });
  });

  it('loads without a single config warning (an operator copying it gets a clean check-config)', () => {
    const env = Object.fromEntries(entries.map((e) => [e.key, e.value]));
    expect(loadConfig(env).warnings).toEqual([]);
  });
});

describe("README's Configuration table matches the config schema", () => {
  const rows = readmeConfigTable(readme);

  it('has one row per schema key, and no other', () => {
    const keys = rows.map((r) => r.key);
    expect(new Set(keys).size).toBe(keys.length);
    expect([...keys].sort()).toEqual(KEY_SPECS.map((s) => s.key).sort());
  });

  it('shows each key with its schema default', () => {
    for (const row of rows) {
      expect({ key: row.key, default: row.defaultValue }).toEqual({ key: row.key, default: defaultValue(row.key as never) });
    }
  });

  it('says what each key means: its declared meaning (npm run config-docs rewrites both files)', () => {
    expect(rows.filter((r) => r.meaning.length < 10).map((r) => r.key)).toEqual([]);
    for (const row of rows) expect({ key: row.key, doc: row.meaning }).toEqual({ key: row.key, doc: docOf(row.key) });
  });
});

describe('the sync parsers catch drift (so the checks above can fail)', () => {
  it('reads a changed default and a missing comment from an env file', () => {
    const entries = parseEnvFile('# why\nWATCHDOG_PORT=9999\n\nWATCHDOG_TICK_S=30\n');
    expect(entries).toEqual([
      { key: 'WATCHDOG_PORT', value: '9999', comment: 'why' },
      { key: 'WATCHDOG_TICK_S', value: '30', comment: '' },
    ]);
  });

  it('reads only the Configuration section of a README, "empty" meaning the empty string', () => {
    const text = [
      '## Configuration',
      '| key | default | meaning |',
      '| --- | --- | --- |',
      '| `WATCHDOG_PORT` | `8787` | listen port |',
      '| `WATCHDOG_METRICS_URL` | empty | the envelope URL |',
      '## HTTP API',
      '| `WATCHDOG_TICK_S` | `30` | not this one |',
    ].join('\n');
    expect(readmeConfigTable(text)).toEqual([
      { key: 'WATCHDOG_PORT', defaultValue: '8787', meaning: 'listen port' },
      { key: 'WATCHDOG_METRICS_URL', defaultValue: '', meaning: 'the envelope URL' },
    ]);
  });
});
