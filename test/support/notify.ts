import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { createLogger } from '../../src/logger.js';
import type { Notifier, NotifyResult } from '../../src/notify/notifier.js';
import type { AlertEvent } from '../../src/watchdog/signal.js';

/** The server's logger (redaction included) whose JSON lines are kept, to assert what reached the log (and what never did). */
export function capturedLog(): { log: Logger; lines: string[]; records: () => Record<string, unknown>[] } {
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', destination: { write: (s: string) => void lines.push(s) } });
  return { log, lines, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

export type Step = NotifyResult | 'hang' | 'throw';

/**
 * An integration whose answers the test scripts (steps are consumed per call; then it succeeds).
 * 'hang' waits until `release()` or until delivery aborts the send.
 */
export class ScriptedNotifier implements Notifier {
  readonly calls: { what: string; atMs: number }[] = [];
  readonly delivered: string[] = [];
  readonly events: AlertEvent[] = [];
  readonly steps: Step[];
  private releases: (() => void)[] = [];

  constructor(
    readonly name: string,
    steps: Step[] = [],
    readonly minIntervalMs?: number,
  ) {
    this.steps = [...steps];
  }

  async notify(event: AlertEvent, abortSignal: AbortSignal): Promise<NotifyResult> {
    const what = `${event.action} ${event.signal.key}`;
    this.calls.push({ what, atMs: performance.now() });
    this.events.push(event);
    const step = this.steps.shift() ?? { ok: true };
    if (step === 'throw') throw new Error('bug in notifier');
    if (step === 'hang') {
      const isReleased = await new Promise<boolean>((resolve) => {
        this.releases.push(() => resolve(true));
        abortSignal.addEventListener('abort', () => resolve(false), { once: true });
      });
      if (!isReleased) return { ok: false, retry: true, reason: 'aborted' };
    } else if (!step.ok) return step;
    this.delivered.push(what);
    return { ok: true };
  }

  /** Lets every hanging send finish successfully. */
  release(): void {
    for (const r of this.releases.splice(0)) r();
  }
}

export async function metricLines(registry: Registry, name: string): Promise<string[]> {
  return (await registry.metrics()).split('\n').filter((l) => l.startsWith(name));
}

export { Registry };
