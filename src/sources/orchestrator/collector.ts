import type { Config } from '../../config.js';
import { callTimeoutMs, describeHttpError, httpRequest } from '../../http.js';
import { boundForRedaction, redactSecrets } from '../../redact.js';
import { envelopeSchema, OrchestratorSignals, type Envelope, type FetchOutcome } from './signals.js';
import type { CollectContext, Collector, Signal } from '../../watchdog/signal.js';
import type { AgentDirectory, AgentInfo } from '../../watchdog/agent-directory.js';

const ENVELOPE_PATH_MAX_CHARS = 200;

/** Every kind of failure is a failed fetch, a call cut short by the tick budget included. */
export class OrchestratorCollector implements Collector {
  readonly name = 'orchestrator';
  private readonly signals: OrchestratorSignals;

  constructor(
    private readonly config: Pick<Config, 'metricsUrl' | 'httpTimeoutS' | 'orchDownAfter' | 'agentHungS' | 'locale'>,
    private readonly deps: { agents?: AgentDirectory } = {},
  ) {
    this.signals = new OrchestratorSignals({ downAfter: config.orchDownAfter, agentHungS: config.agentHungS, locale: config.locale });
  }

  async collect(ctx: CollectContext): Promise<Signal[]> {
    const timeoutMs = callTimeoutMs(this.config.httpTimeoutS * 1000, ctx.deadline);
    const outcome = await fetchEnvelope(this.config.metricsUrl, timeoutMs, ctx.abortSignal);
    if (!outcome.ok) ctx.log.warn({ reason: outcome.reason }, 'orchestrator envelope fetch failed');
    else this.deps.agents?.update(agentsOf(outcome.envelope));
    return this.signals.next(outcome, ctx.now);
  }
}

/** The envelope's agents in the watchdog's terms. */
export function agentsOf(envelope: Envelope): AgentInfo[] {
  return envelope.agents.map((a) => ({ runId: a.run_id, pid: a.pid ?? null, task: a.task ?? null, stage: a.stage ?? null }));
}

/** GET WATCHDOG_METRICS_URL: the parsed envelope, or why not (every kind of failure is a failed fetch). */
export async function fetchEnvelope(url: string, timeoutMs: number, signal?: AbortSignal): Promise<FetchOutcome> {
  let body: { status: number; text: string };
  try {
    body = await httpRequest(url, { timeoutMs, signal });
  } catch (err) {
    return { ok: false, reason: describeHttpError(err) };
  }
  if (body.status < 200 || body.status >= 300) return { ok: false, reason: `HTTP ${body.status}` };
  let json: unknown;
  try {
    json = JSON.parse(body.text);
  } catch {
    return { ok: false, reason: 'response is not valid JSON' };
  }
  const parsed = envelopeSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    // the path is the peer's own keys: bounded and redacted like any other text it sent
    const where = redactSecrets(boundForRedaction(issue?.path.join('.') || '(root)', ENVELOPE_PATH_MAX_CHARS));
    return { ok: false, reason: `invalid envelope: ${where}: ${issue?.message}` };
  }
  return { ok: true, envelope: parsed.data };
}
