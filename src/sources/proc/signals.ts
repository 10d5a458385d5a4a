import { formatDuration, t, type Locale } from '../../i18n.js';
import { identityKey, type ProcIdentity, type ProcStat } from '../../proc/parse-stat.js';
import { processAgeS } from '../../proc/read-proc.js';
import { redactCommandLine } from '../../redact.js';
import { makeSignal, type Severity, type Signal } from '../../watchdog/signal.js';
import type { Candidate, CandidateMatch, Owner, RunAlert, RunRecord, RunStep } from './runs.js';
import type { ScannedProcess } from './scanner.js';

/** The cmdline served and alerted is redacted, then cut to this many characters (docs/api.md). */
const CMDLINE_MAX_CHARS = 512;

const MAX_LEFTOVERS_PER_RUN = 64;

/** Parents that adopt orphans: init systems and container inits/subreapers (comm is cut to 15 bytes: `containerd-shim`). */
const REAPER_PARENTS: ReadonlySet<string> = new Set(
  'init systemd tini dumb-init docker-init catatonit s6-svscan s6-supervise runit runsvdir containerd-shim'.split(' '),
);

/** `btimeS`: boot time, seconds since the epoch; `clkTck`: CLK_TCK; `thresholdS`: WATCHDOG_PROC_AGE_MIN in seconds. */
export interface TickClock {
  btimeS: number;
  clkTck: number;
  nowMs: number;
  thresholdS: number;
}

interface Judge {
  clock: TickClock;
  leftoverGraceS: number;
  /** WATCHDOG_PROC_EXCLUDE: a leftover it matches is not listed */
  isExcluded(argv: readonly string[]): boolean;
  /** merge-gate re-tests still inside their own timeout: the gate stops them, nobody else */
  retestsInTimeout: ReadonlySet<string>;
  /** the run ids the envelope lists; null without an orchestrator (no owner is called gone) */
  listedRunIds: ReadonlySet<string> | null;
  processesOf(run: RunRecord): ProcIdentity[];
}

export function isOrphaned(ppid: number, parentComm: string | null): boolean {
  return ppid === 1 || (parentComm !== null && REAPER_PARENTS.has(parentComm));
}

const round2 = (n: number): number => Math.round(n * 100) / 100;

const isInsideRetest = (owner: Owner, j: Judge): boolean => owner?.kind === 'retest' && j.retestsInTimeout.has(owner.id);

/** A process as the API lists it; `isBlocking` given overrides the age rule (a leftover's grace, a re-test). */
export function toCandidate(
  p: ProcStat & Pick<ScannedProcess, 'argv' | 'parentComm' | 'locks' | 'ports'>,
  clock: TickClock,
  facts: { match: CandidateMatch; run: ProcIdentity; owner: Owner; isBlocking?: boolean },
): Candidate {
  const { pid, ppid, pgrp, startTicks, comm, parentComm, locks, ports } = p;
  const ageS = round2(processAgeS(startTicks, clock));
  const cpuS = round2((p.utimeTicks + p.stimeTicks) / clock.clkTck);
  const cmdline = redactCommandLine(p.argv, CMDLINE_MAX_CHARS);
  const orphaned = isOrphaned(ppid, parentComm);
  const isBlocking = facts.isBlocking ?? ageS >= clock.thresholdS;
  return { pid, ppid, pgrp, startTicks, comm, parentComm, ageS, cpuS, cmdline, isOrphaned: orphaned, locks, ports, ...facts, isBlocking };
}

function leftovers(f: RunStep['finished'][number], facts: ReadonlyMap<number, ScannedProcess>, j: Judge): Candidate[] {
  const out: Candidate[] = [];
  const isBlocking = f.goneForS >= j.leftoverGraceS && !isInsideRetest(f.run.owner, j);
  for (const id of f.leftovers.slice(0, MAX_LEFTOVERS_PER_RUN)) {
    const p = facts.get(id.pid);
    if (p?.startTicks !== id.startTicks || j.isExcluded(p.argv)) continue;
    out.push(toCandidate(p, j.clock, { match: 'leftover', run: f.run.top, owner: f.run.owner, isBlocking }));
  }
  return out;
}

function alertOf(run: RunRecord, own: Candidate[], lead: Candidate, goneForS: number | null, j: Judge): RunAlert {
  const locks = own.flatMap((c) => c.locks);
  const owner = run.owner;
  return {
    top: run.top,
    lead,
    processes: j.processesOf(run),
    leftovers: goneForS === null ? [] : own,
    goneForS,
    isOwnerGone: owner?.kind === 'agent' && j.listedRunIds !== null && !j.listedRunIds.has(owner.runId),
    isBlocking: own.some((c) => c.isBlocking),
    locks: locks.filter((l, i) => locks.findIndex((x) => x.path === l.path) === i),
    ports: [...new Set(own.flatMap((c) => c.ports))].sort((a, b) => a - b),
  };
}

/** One step of the runs as the API lists them (oldest first) and as they alert (one alert per run). */
export function judgeRuns(
  step: RunStep,
  facts: ReadonlyMap<number, ScannedProcess>,
  j: Judge,
): { candidates: Candidate[]; alerts: RunAlert[] } {
  const byRun = new Map<RunRecord, { lead?: Candidate; own: Candidate[] }>();
  for (const m of step.members) {
    const topAgeS = processAgeS(m.run.top.startTicks, j.clock);
    const isBlocking = !isInsideRetest(m.run.owner, j) && topAgeS >= j.clock.thresholdS;
    const c = toCandidate(m.raw, j.clock, { match: m.raw.match, run: m.run.top, owner: m.run.owner, isBlocking });
    const entry = byRun.get(m.run) ?? { own: [] };
    entry.own.push(c);
    if (m.isTop) entry.lead = c;
    byRun.set(m.run, entry);
  }
  const alerts: RunAlert[] = [];
  for (const [run, { lead, own }] of byRun) if (lead) alerts.push(alertOf(run, own, lead, null, j));
  const candidates = [...byRun.values()].flatMap((e) => e.own);
  for (const f of step.finished) {
    const own = leftovers(f, facts, j);
    candidates.push(...own);
    if (own.length > 0) alerts.push(alertOf(f.run, own, own[0]!, f.goneForS, j));
  }
  return { candidates: candidates.sort((a, b) => b.ageS - a.ageS || a.pid - b.pid), alerts };
}

/** proc_blocking, one per blocking run, its entity the run's top pid; a run that stopped blocking since `before` is said inactive
 * once, with why. A reused pid never inherits an alert: the old run's RECOVERY first, the new run's ALERT next tick. */
export function blockingSignals(
  before: readonly RunAlert[],
  alerts: readonly RunAlert[],
  startOf: (pid: number) => number | undefined,
  /** reapAgeS: WATCHDOG_PROC_REAP_AGE_MIN in seconds, the age a live run is surely stuck at */
  s: { reapAgeS: number; cooldownS: number; locale: Locale },
): Signal[] {
  const { cooldownS, locale } = s;
  const blocking = alerts.filter((a) => a.isBlocking);
  const still = new Set(blocking.map((a) => identityKey(a.top)));
  const said = new Set<number>();
  const signals: Signal[] = [];
  const signal = (a: RunAlert, active: boolean, severity: Severity, texts: Texts): void => {
    signals.push(makeSignal({ family: 'proc_blocking', entity: String(a.top.pid), active, severity, ...texts, cooldownS }));
    said.add(a.top.pid);
  };
  for (const a of before) {
    if (!a.isBlocking || still.has(identityKey(a.top))) continue;
    const start = startOf(a.top.pid);
    const reason: GoneReason = start === undefined ? 'exited' : start === a.top.startTicks ? 'not_matching' : 'reused';
    signal(a, false, 'warning', recoveredTexts(a.top.pid, reason, locale));
  }
  for (const a of blocking) {
    if (!said.has(a.top.pid))
      signal(a, true, a.goneForS === null && a.lead.ageS < s.reapAgeS ? 'warning' : 'critical', blockingTexts(a, locale));
  }
  return signals;
}

/** The reaper's rule: a blocking run's leftovers, or an orphaned live run older than the reap age. */
export function isReapDue(a: RunAlert, reapAgeS: number): boolean {
  return a.isBlocking && (a.goneForS !== null || (a.lead.isOrphaned && a.lead.ageS >= reapAgeS));
}

type Texts = Pick<Signal, 'title' | 'detail'>;

/** The command an operator runs: exactly the run's processes, never a shell or agent that started it. */
function killCommand(a: RunAlert): string {
  const pids = a.processes.map((p) => p.pid).sort((x, y) => x - y);
  return `kill -TERM ${pids.join(' ')}`;
}

function parentText(c: Candidate, locale: Locale): string {
  if (c.isOrphaned) {
    const via = c.ppid === 1 ? '' : ` (${c.parentComm ?? '?'} ${c.ppid})`;
    return t(locale, { en: `orphaned${via}`, ru: `осиротел${via}` });
  }
  const name = c.parentComm === null ? '' : ` ${c.parentComm}`;
  return t(locale, { en: `parent ${c.ppid}${name}`, ru: `родитель ${c.ppid}${name}` });
}

function ownerText(owner: Owner, isGone: boolean, locale: Locale): string {
  if (owner === null) return t(locale, { en: 'owner unknown', ru: 'владелец неизвестен' });
  if (owner.kind === 'retest') return t(locale, { en: `merge-gate re-test ${owner.id}`, ru: `повторный прогон merge-gate ${owner.id}` });
  const who = [`${owner.runId}`, owner.task, owner.stage].filter((x) => x !== null).join(', ');
  return isGone
    ? t(locale, { en: `started by agent run ${who}, which is gone`, ru: `запущен агентом ${who}, которого больше нет` })
    : t(locale, { en: `started by agent run ${who}`, ru: `запущен агентом ${who}` });
}

function resourcesText(a: RunAlert, locale: Locale): string {
  const parts: string[] = [];
  if (a.locks.length > 0) {
    const list = a.locks.map((l) => `${l.path} (${l.kind})`).join(', ');
    parts.push(t(locale, { en: `holds locks: ${list}`, ru: `держит блокировки: ${list}` }));
  }
  if (a.ports.length > 0) {
    const list = a.ports.join(', ');
    parts.push(t(locale, { en: `listens on TCP ${list}`, ru: `слушает TCP ${list}` }));
  }
  return parts.length > 0 ? ` ${parts.join('; ')}.` : '';
}

export function blockingTexts(a: RunAlert, locale: Locale): Texts {
  const c = a.lead;
  const owner = ownerText(c.owner, a.isOwnerGone, locale);
  const kill = killCommand(a);
  if (a.goneForS !== null) {
    const gone = formatDuration(a.goneForS, locale);
    const list = a.leftovers.map((l) => `${l.pid} ${l.cmdline}`).join('; ');
    const n = a.leftovers.length;
    return {
      title: t(locale, {
        en: `Test run ${a.top.pid} left ${n} process(es) behind`,
        ru: `Тестовый прогон ${a.top.pid} оставил после себя процессов: ${n}`,
      }),
      detail:
        t(locale, {
          en: `The test process ${a.top.pid} is gone since ${gone}, ${owner}. Leftovers: ${list}.`,
          ru: `Тестового процесса ${a.top.pid} нет уже ${gone}, ${owner}. Оставшиеся процессы: ${list}.`,
        }) +
        resourcesText(a, locale) +
        t(locale, { en: ` Stop them: ${kill}`, ru: ` Остановить: ${kill}` }),
    };
  }
  const age = formatDuration(c.ageS, locale);
  const below = a.processes.length - 1;
  const run =
    below > 0 ? t(locale, { en: ` It has ${below} live descendant process(es).`, ru: ` У него ${below} живых дочерних процесс(ов).` }) : '';
  const facts = `PID ${c.pid}, ${t(locale, { en: 'age', ru: 'возраст' })} ${age}, CPU ${formatDuration(c.cpuS, locale)}, ${parentText(c, locale)}, ${owner}.`;
  return {
    title: t(locale, { en: `Test process ${c.pid} has been running for ${age}`, ru: `Тестовый процесс ${c.pid} работает уже ${age}` }),
    detail:
      facts +
      run +
      resourcesText(a, locale) +
      t(locale, { en: ` Command: ${c.cmdline}. Stop it: ${kill}`, ru: ` Команда: ${c.cmdline}. Остановить: ${kill}` }),
  };
}

export type GoneReason = 'exited' | 'reused' | 'not_matching';

export function recoveredTexts(pid: number, reason: GoneReason, locale: Locale): Texts {
  const why = {
    exited: t(locale, { en: 'the process exited', ru: 'процесс завершился' }),
    reused: t(locale, {
      en: 'the process exited and its pid now belongs to another process',
      ru: 'процесс завершился, его pid занят другим процессом',
    }),
    not_matching: t(locale, {
      en: 'its command line no longer matches WATCHDOG_PROC_PATTERNS, or its run ended and what it left is within WATCHDOG_PROC_LEFTOVER_GRACE_S',
      ru: 'его командная строка больше не совпадает с WATCHDOG_PROC_PATTERNS, или прогон завершён и оставшиеся процессы ещё в WATCHDOG_PROC_LEFTOVER_GRACE_S',
    }),
  }[reason];
  return {
    title: t(locale, { en: `Test process ${pid} is gone`, ru: `Тестового процесса ${pid} больше нет` }),
    detail: t(locale, { en: `PID ${pid}: ${why}.`, ru: `PID ${pid}: ${why}.` }),
  };
}
