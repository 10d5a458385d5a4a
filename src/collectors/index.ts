import type { Config } from '../config.js';
import type { Collector } from './collector.js';
import { DiskCollector, MemoryCollector } from './host.js';
import { OrchestratorCollector } from './orchestrator.js';

export interface CollectorDeps {
  /** Reserved for adapters that tests replace (docker client, proc reader…). */
  [name: string]: unknown;
}

/** The sources the tick runs, in the order their signals are listed. Opt-in sources are off by default. */
export function buildCollectors(config: Config, _deps: CollectorDeps = {}): Collector[] {
  const collectors: Collector[] = [];
  if (config.metricsUrl !== '') collectors.push(new OrchestratorCollector(config));
  collectors.push(new MemoryCollector(config));
  if (config.diskCritEnabled) collectors.push(new DiskCollector(config));
  return collectors;
}
