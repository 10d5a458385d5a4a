/**
 * Summaries of V8's diagnostic files for bench/profile-signals.ts (issue 22 items 3 and 4):
 * a `--cpu-prof` profile's self time by function and by where the code comes from, within a time
 * window, and a heap snapshot's self size by constructor.
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Where a function's code comes from: the categories the issue asks about. */
function origin(url: string, name: string): string {
  if (name === '(garbage collector)') return 'GC';
  if (name === '(idle)') return 'idle';
  if (name === '(program)') return 'V8/native (program)';
  if (url === '') return 'native/builtin';
  if (url.startsWith('node:'))
    return url.startsWith('node:internal/http') || url === 'node:_http_server' || url.includes('http') ? 'node http' : 'node core';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1]!;
  if (/\/dist\/(src|routes)\//.test(url)) return 'orch-watchdog';
  return url.replace(/^.*\/dist\//, 'dist/');
}

export interface CpuSummary {
  /** ms of samples in the window */
  totalMs: number;
  byOrigin: [string, number][];
  topSelf: [string, number][];
}

/**
 * Self time per function and per origin, over the samples whose time (CLOCK_MONOTONIC µs, as
 * process.hrtime) is in [fromUs, toUs].
 */
export function summarizeCpuProfile(path: string, fromUs = -Infinity, toUs = Infinity, top = 20): CpuSummary {
  const p = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let t = p.startTime;
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i]!;
    if (t < fromUs || t > toUs) continue;
    // a sample's time is the gap to the next one
    const dt = (p.timeDeltas[i + 1] ?? 0) / 1000;
    self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + dt);
    total += dt;
  }
  const byFn = new Map<string, number>();
  const byOrigin = new Map<string, number>();
  for (const [id, ms] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const o = origin(url, functionName);
    const file = url.replace(/^.*\/(node_modules|dist)\//, '').replace(/^file:\/\//, '');
    const key = `${functionName || '(anonymous)'} ${file ? `${file}:${lineNumber + 1}` : ''} [${o}]`;
    byFn.set(key, (byFn.get(key) ?? 0) + ms);
    byOrigin.set(o, (byOrigin.get(o) ?? 0) + ms);
  }
  const sorted = (m: Map<string, number>): [string, number][] => [...m].sort((a, b) => b[1] - a[1]);
  return { totalMs: total, byOrigin: sorted(byOrigin), topSelf: sorted(byFn).slice(0, top) };
}

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

export interface HeapSummary {
  totalMb: number;
  byType: [string, number][];
  /** [type:name, self MB, count] */
  byConstructor: [string, number, number][];
}

/** Self size by node type and by constructor (type:name; strings, code and arrays by type only). */
export function summarizeHeapSnapshot(path: string, top = 25): HeapSummary {
  const h = JSON.parse(readFileSync(path, 'utf8')) as HeapSnapshot;
  const fields = h.snapshot.meta.node_fields;
  const types = h.snapshot.meta.node_types[0];
  const [iType, iName, iSize] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f)) as [number, number, number];
  const byType = new Map<string, number>();
  const byCtor = new Map<string, [number, number]>();
  let total = 0;
  for (let i = 0; i < h.nodes.length; i += fields.length) {
    const type = types[h.nodes[i + iType]!]!;
    const size = h.nodes[i + iSize]!;
    total += size;
    byType.set(type, (byType.get(type) ?? 0) + size);
    const named = type === 'object' || type === 'closure' || type === 'native' || type === 'hidden';
    const key = named ? `${type}:${h.strings[h.nodes[i + iName]!]!.slice(0, 60)}` : type;
    const e = byCtor.get(key) ?? [0, 0];
    e[0] += size;
    e[1] += 1;
    byCtor.set(key, e);
  }
  const mb = (b: number): number => b / 1024 / 1024;
  return {
    totalMb: mb(total),
    byType: [...byType].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, mb(v)]),
    byConstructor: [...byCtor]
      .sort((a, b) => b[1][0] - a[1][0])
      .slice(0, top)
      .map(([k, [s, c]]) => [k, mb(s), c]),
  };
}
