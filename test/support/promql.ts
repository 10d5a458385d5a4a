/** Just enough PromQL and exposition-format reading for the deploy tests: which metric names a query uses, which a scrape exposes. */

const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'inf',
  'nan',
]);

/** Grafana's built-in and dashboard variables, replaced by values Prometheus accepts. */
export function substituteGrafanaVariables(expr: string): string {
  return expr.replace(/\$__rate_interval|\$__interval|\$__range/g, '1m').replace(/\$\{?[A-Za-z_][A-Za-z0-9_]*\}?/g, '.+');
}

/** Metric names a PromQL expression selects (identifiers that are not functions, keywords or label names). */
export function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const m of stripped.matchAll(/([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?/g)) {
    const [, ident, call] = m as unknown as [string, string, string | undefined];
    const before = stripped[m.index - 1];
    if (call !== undefined || KEYWORDS.has(ident.toLowerCase())) continue;
    // digits glued to a letter belong to a number or duration (1e3, 5m), not to a name
    if (before !== undefined && /[0-9.]/.test(before)) continue;
    names.add(ident);
  }
  return [...names].sort();
}

export interface Exposition {
  /** Names of every sample line (histograms as _bucket/_sum/_count). */
  sampled: Set<string>;
  /** Every name the scrape declares (# TYPE), expanded to the series names its type produces. */
  declared: Set<string>;
}

/** Reads Prometheus text exposition (what GET /metrics answers). */
export function parseExposition(text: string): Exposition {
  const sampled = new Set<string>();
  const declared = new Set<string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE ([A-Za-z_:][A-Za-z0-9_:]*) (\w+)/.exec(line);
    if (type) {
      const [, name, kind] = type as unknown as [string, string, string];
      declared.add(name);
      if (kind === 'histogram') for (const s of ['_bucket', '_sum', '_count']) declared.add(name + s);
      if (kind === 'summary') for (const s of ['_sum', '_count']) declared.add(name + s);
      continue;
    }
    const sample = /^([A-Za-z_:][A-Za-z0-9_:]*)[{ ]/.exec(line);
    if (sample) {
      sampled.add(sample[1]!);
      declared.add(sample[1]!);
    }
  }
  return { sampled, declared };
}
