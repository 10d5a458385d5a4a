import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import type { AppDeps } from '../../src/app-context.js';
import { loadConfig, type Config } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import type { Notifier } from '../../src/notify/notifier.js';
import type { AlertEvent } from '../../src/watchdog/signal.js';

/** A config for tests: the built-in defaults, then the overrides. */
export function testConfig(overrides: Partial<Config> = {}): Config {
  return { ...loadConfig({}).config, ...overrides };
}

/** A notifier that records what it was asked to send (the app's delivery still runs for real). */
export class RecordingNotifier implements Notifier {
  readonly name = 'recording';
  readonly events: AlertEvent[] = [];
  async notify(event: AlertEvent) {
    this.events.push(event);
    return { ok: true as const };
  }
  actions(): string[] {
    return this.events.map((e) => `${e.action} ${e.signal.key}`);
  }
}

/** A manual clock for ticks, cooldowns and staleness without sleeping. */
export function manualClock(startMs = Date.parse('2026-11-22T12:00:00Z')) {
  let now = startMs;
  const clock = () => now;
  clock.advance = (ms: number) => {
    now += ms;
  };
  return clock;
}

/**
 * Merge-gate settings for app tests: /tmp (root-owned) may be a cwd, no back-off, and no CPU-pressure hold
 * (this shared 2-core CI host sits at PSI ~100 %; the hold itself is tested in test/merge-gate/).
 */
const MERGE_GATE_TEST_DEFAULTS: Partial<Config> = { mergeAllowRoot: true, mergeRequeueDelayS: 0, mergeMaxCpuPressure: 100 };

export async function testApp(config: Partial<Config> = {}, deps: AppDeps = {}): Promise<FastifyInstance> {
  return buildApp(testConfig({ ...MERGE_GATE_TEST_DEFAULTS, ...config }), {
    log: createLogger({ level: 'silent' }),
    hostname: 'test-host',
    collectors: [],
    ...deps,
  });
}
