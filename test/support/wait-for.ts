import { setTimeout as delay } from 'node:timers/promises';

export interface WaitOptions {
  /** Generous by default: CI is a loaded 2-core machine. */
  timeoutMs?: number;
  intervalMs?: number;
  /** Appended to the error when the condition never holds (a daemon's log tail, say). */
  describe?: () => string;
}

/** Polls `check` (sync or async) until it is true; throws naming `what` when the limit passes. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, opts: WaitOptions = {}): Promise<void> {
  const { timeoutMs = 10_000, intervalMs = 20 } = opts;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${opts.describe ? `\n${opts.describe()}` : ''}`);
    await delay(intervalMs);
  }
}
