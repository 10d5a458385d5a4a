import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/** The Grafana dashboard's shape; its queries are checked against a real Prometheus in prometheus.test.ts. */

interface GridPos {
  x: number;
  y: number;
  w: number;
  h: number;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: GridPos;
  datasource?: { type: string; uid: string };
  targets?: { expr: string; refId: string; datasource?: { uid: string }; format?: string; instant?: boolean }[];
  transformations?: { id: string; options: Record<string, unknown> }[];
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: {
    list: {
      name: string;
      type: string;
      query: unknown;
      includeAll?: boolean;
      multi?: boolean;
      allValue?: string;
      current?: { value?: unknown };
    }[];
  };
}

const dashboard = JSON.parse(readFileSync(new URL('../../deploy/grafana/orch-watchdog.json', import.meta.url), 'utf8')) as Dashboard;
const panels = dashboard.panels.filter((p) => p.type !== 'row');

const overlaps = (a: GridPos, b: GridPos) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

describe('the orch-watchdog Grafana dashboard', () => {
  it('has the panels the issue names: tick duration, signals by family, candidates and oldest age, alerts sent and failed, merge-gate outcomes', () => {
    const titles = panels.map((p) => p.title);
    expect(titles).toEqual(
      expect.arrayContaining([
        'Tick duration',
        'Active signals by family',
        'Test-process candidates',
        'Oldest test process',
        'Notifications sent',
        'Notification failures',
        'Re-test outcomes',
      ]),
    );
    const exprOf = (title: string) =>
      panels
        .find((p) => p.title === title)!
        .targets!.map((t) => t.expr)
        .join(' ');
    expect(exprOf('Tick duration')).toContain('orch_watchdog_tick_duration_seconds_bucket');
    expect(exprOf('Active signals by family')).toMatch(/sum by \(family\) \(orch_watchdog_signals_active/);
    expect(exprOf('Test-process candidates')).toContain('orch_watchdog_proc_candidates');
    expect(exprOf('Oldest test process')).toContain('orch_watchdog_proc_oldest_age_seconds');
    expect(exprOf('Notification failures')).toContain('orch_watchdog_notification_failures_total');
    expect(exprOf('Re-test outcomes')).toMatch(/sum by \(outcome\) \(increase\(orch_watchdog_merge_gate_runs_total/);
  });

  it('queries through its datasource variable, so an import works with any Prometheus datasource', () => {
    expect(dashboard.templating.list.find((v) => v.name === 'datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    const fixed = panels.filter(
      (p) => p.datasource?.uid !== '${datasource}' || (p.targets ?? []).some((t) => t.datasource?.uid !== '${datasource}'),
    );
    expect(fixed.map((p) => p.title)).toEqual([]);
  });

  it('filters every query by the instance variable, so a fleet can be looked at one host at a time', () => {
    const unfiltered = panels.flatMap((p) => (p.targets ?? []).filter((t) => !t.expr.includes('instance=~"$instance"')).map(() => p.title));
    expect(unfiltered).toEqual([]);
  });

  it('has a stable uid, unique panel ids and refIds, and no panel drawn over another', () => {
    expect(dashboard.uid).toBe('orch-watchdog');
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of panels) {
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      const refIds = p.targets!.map((t) => t.refId);
      expect(new Set(refIds).size, p.title).toBe(refIds.length);
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
    }
    const clashes: string[] = [];
    dashboard.panels.forEach((a, i) =>
      dashboard.panels.slice(i + 1).forEach((b) => {
        if (overlaps(a.gridPos, b.gridPos)) clashes.push(`${a.title} / ${b.title}`);
      }),
    );
    expect(clashes).toEqual([]);
  });
});

describe('the dashboard across a fleet', () => {
  it('has an instance variable with All (every host, the default) and multi-select', () => {
    const instance = dashboard.templating.list.find((v) => v.name === 'instance');
    expect(instance).toMatchObject({ type: 'query', includeAll: true, multi: true, allValue: '.+' });
    expect(instance?.current?.value).toEqual(['$__all']);
  });

  it('opens with a table of hosts, one row per instance, sorted by blocking runs, with the oldest age beside', () => {
    expect(panels[0]?.type).toBe('table');
    const table = panels[0]!;
    expect(table.title).toBe('Hosts by blocking test processes');
    const exprs = table.targets!.map((t) => t.expr);
    expect(exprs[0]).toMatch(/^sum by \(instance\) \(orch_watchdog_proc_blocking\{/);
    expect(exprs[1]).toMatch(/^max by \(instance\) \(orch_watchdog_proc_oldest_age_seconds\{/);
    // One row per host: every query is an instant table aggregated by instance, merged on it.
    for (const t of table.targets!) {
      expect(t.expr, t.refId).toContain('by (instance)');
      expect({ ref: t.refId, format: t.format, instant: t.instant }).toEqual({ ref: t.refId, format: 'table', instant: true });
    }
    const ids = table.transformations!.map((t) => t.id);
    expect(ids).toEqual(['merge', 'organize', 'sortBy']);
    expect(table.transformations![2]!.options).toMatchObject({ sort: [{ field: 'Blocking runs', desc: true }] });
    const renamed = (table.transformations![1]!.options as { renameByName: Record<string, string> }).renameByName;
    expect(renamed).toMatchObject({ instance: 'Host', 'Value #A': 'Blocking runs', 'Value #B': 'Oldest test process' });
  });
});
