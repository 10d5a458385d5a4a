import { z } from 'zod';
import { formatDuration, t, type Locale } from '../../i18n.js';
import { makeSignal, type Signal } from '../../watchdog/signal.js';

/** docs/behaviour.md, "The orchestrator envelope". Unknown extra fields are ignored (zod strips them). */
export const envelopeSchema = z.object({
  schema_version: z.literal(1),
  generated_at: z.number(),
  queue: z.object({
    counts: z.object({ failed: z.number().int().nonnegative() }).catchall(z.number()),
  }),
  agents: z.array(
    z.object({
      run_id: z.union([z.string().min(1), z.number()]).transform(String),
      pid: z.number().int().optional(),
      cpu_ticks: z.number().nonnegative(),
      stage: z.string().optional(),
      task: z.string().optional(),
    }),
  ),
});

export type Envelope = z.infer<typeof envelopeSchema>;

export type FetchOutcome = { ok: true; envelope: Envelope } | { ok: false; reason: string };

export interface OrchestratorSettings {
  downAfter: number;
  agentHungS: number;
  locale: Locale;
}

interface AgentSample {
  cpuTicks: number;
  sinceMs: number;
  stage?: string;
  task?: string;
  pid?: number;
}

/** Pure: envelope fetch outcomes → orch_down, agent_hung and job_failed. */
export class OrchestratorSignals {
  private failures = 0;
  private lastReason = '';
  private lastFailed: number | null = null;
  private readonly agents = new Map<string, AgentSample>();
  private agentSignals: Signal[] = [];

  constructor(private readonly s: OrchestratorSettings) {}

  next(outcome: FetchOutcome, nowMs: number): Signal[] {
    if (!outcome.ok) {
      this.failures += 1;
      this.lastReason = outcome.reason;
      // While the envelope is unreadable nothing is known about agents: keep their last verdict.
      return [this.orchDown(), ...this.agentSignals];
    }
    this.failures = 0;
    const signals: Signal[] = [this.orchDown()];
    const failed = outcome.envelope.queue.counts.failed;
    if (this.lastFailed !== null && failed > this.lastFailed) signals.push(this.jobFailed(this.lastFailed, failed));
    this.lastFailed = failed;
    this.agentSignals = this.sampleAgents(outcome.envelope, nowMs);
    return [...signals, ...this.agentSignals];
  }

  private orchDown(): Signal {
    const active = this.failures >= this.s.downAfter;
    const { locale } = this.s;
    return makeSignal({
      family: 'orch_down',
      entity: null,
      active,
      severity: 'critical',
      title: t(locale, { en: 'Orchestrator metrics unavailable', ru: 'Метрики оркестратора недоступны' }),
      detail: active
        ? t(locale, {
            en: `${this.failures} consecutive failed fetches; last error: ${this.lastReason}`,
            ru: `${this.failures} неудачных запросов подряд; последняя ошибка: ${this.lastReason}`,
          })
        : t(locale, { en: 'metrics envelope fetched', ru: 'метрики получены' }),
    });
  }

  private jobFailed(before: number, after: number): Signal {
    const { locale } = this.s;
    return makeSignal({
      family: 'job_failed',
      entity: null,
      active: true,
      severity: 'warning',
      title: t(locale, { en: 'Orchestrator job failed', ru: 'Задача оркестратора завершилась с ошибкой' }),
      detail: t(locale, {
        en: `failed jobs ${before} → ${after} (+${after - before})`,
        ru: `задач с ошибкой ${before} → ${after} (+${after - before})`,
      }),
    });
  }

  private sampleAgents(envelope: Envelope, nowMs: number): Signal[] {
    const present = new Set<string>();
    const signals: Signal[] = [];
    for (const agent of envelope.agents) {
      present.add(agent.run_id);
      const prev = this.agents.get(agent.run_id);
      const moved = prev?.cpuTicks !== agent.cpu_ticks;
      const sample: AgentSample = {
        cpuTicks: agent.cpu_ticks,
        sinceMs: moved ? nowMs : prev.sinceMs,
        stage: agent.stage,
        task: agent.task,
        pid: agent.pid,
      };
      this.agents.set(agent.run_id, sample);
      signals.push(this.agentHung(agent.run_id, sample, nowMs));
    }
    // An agent that left the envelope is forgotten; its signal disappears, which recovers it.
    for (const runId of [...this.agents.keys()]) if (!present.has(runId)) this.agents.delete(runId);
    return signals;
  }

  private agentHung(runId: string, a: AgentSample, nowMs: number): Signal {
    const stillS = (nowMs - a.sinceMs) / 1000;
    const active = stillS >= this.s.agentHungS;
    const { locale } = this.s;
    const what = [a.task, a.stage, a.pid !== undefined ? `pid ${a.pid}` : undefined].filter(Boolean).join(', ');
    return makeSignal({
      family: 'agent_hung',
      entity: runId,
      active,
      severity: 'warning',
      title: t(locale, { en: `Agent run ${runId} looks hung`, ru: `Агент (запуск ${runId}) похоже завис` }),
      detail: t(locale, {
        en: `cpu_ticks stuck at ${a.cpuTicks} for ${formatDuration(stillS, locale)}${what ? ` (${what})` : ''}`,
        ru: `cpu_ticks не меняются (${a.cpuTicks}) уже ${formatDuration(stillS, locale)}${what ? ` (${what})` : ''}`,
      }),
    });
  }
}
