import { z } from 'zod';
import { formatDuration, translator, type Locale } from '../../i18n.js';
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

/** Pure: envelope fetch outcomes → orch_down, agent_hung and job_failed. */
export class OrchestratorSignals {
  private failures = 0;
  private lastReason = '';
  private lastFailed: number | null = null;
  /** Per run id: its cpu_ticks and since when they have not moved. */
  private agents = new Map<string, { cpuTicks: number; sinceMs: number }>();
  private agentSignals: Signal[] = [];
  private readonly tr: (en: string, ru: string) => string;

  constructor(private readonly s: { downAfter: number; agentHungS: number; locale: Locale }) {
    this.tr = translator(s.locale);
  }

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
    return makeSignal({
      family: 'orch_down',
      entity: null,
      active,
      severity: 'critical',
      title: this.tr('Orchestrator metrics unavailable', 'Метрики оркестратора недоступны'),
      detail: active
        ? this.tr(
            `${this.failures} consecutive failed fetches; last error: ${this.lastReason}`,
            `${this.failures} неудачных запросов подряд; последняя ошибка: ${this.lastReason}`,
          )
        : this.tr('metrics envelope fetched', 'метрики получены'),
    });
  }

  private jobFailed(before: number, after: number): Signal {
    return makeSignal({
      family: 'job_failed',
      entity: null,
      active: true,
      severity: 'warning',
      title: this.tr('Orchestrator job failed', 'Задача оркестратора завершилась с ошибкой'),
      detail: this.tr(`failed jobs ${before} → ${after} (+${after - before})`, `задач с ошибкой ${before} → ${after} (+${after - before})`),
    });
  }

  private sampleAgents(envelope: Envelope, nowMs: number): Signal[] {
    const previous = this.agents;
    // An agent that left the envelope is forgotten; its signal disappears, which recovers it.
    this.agents = new Map();
    return envelope.agents.map((agent) => {
      const prev = this.agents.get(agent.run_id) ?? previous.get(agent.run_id);
      const sinceMs = prev?.cpuTicks !== agent.cpu_ticks ? nowMs : prev.sinceMs;
      this.agents.set(agent.run_id, { cpuTicks: agent.cpu_ticks, sinceMs });
      return this.agentHung(agent, (nowMs - sinceMs) / 1000);
    });
  }

  private agentHung(a: Envelope['agents'][number], stillS: number): Signal {
    const active = stillS >= this.s.agentHungS;
    const still = formatDuration(stillS, this.s.locale);
    const known = [a.task, a.stage, a.pid !== undefined ? `pid ${a.pid}` : undefined].filter(Boolean).join(', ');
    const what = known ? ` (${known})` : '';
    return makeSignal({
      family: 'agent_hung',
      entity: a.run_id,
      active,
      severity: 'warning',
      title: this.tr(`Agent run ${a.run_id} looks hung`, `Агент (запуск ${a.run_id}) похоже завис`),
      detail: this.tr(
        `cpu_ticks stuck at ${a.cpu_ticks} for ${still}${what}`,
        `cpu_ticks не меняются (${a.cpu_ticks}) уже ${still}${what}`,
      ),
    });
  }
}
