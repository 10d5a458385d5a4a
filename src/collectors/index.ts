import type { Config } from '../config.js';
import type { Collector } from './collector.js';
import { DiskCollector, MemoryCollector } from './host.js';
import { OrchestratorCollector } from './orchestrator.js';
import type { Registry } from 'prom-client';
import { createContainerMetrics } from './container-metrics.js';
import { ContainerCollector } from './containers.js';
import { createDepMetrics } from './dep-metrics.js';
import { DepCollector } from './deps.js';
import { DockerodeReader, type DockerReader } from './docker-client.js';
import { ProcCollector } from './proc/collector.js';

export interface CollectorDeps {
  /** Reserved for adapters that tests replace (docker client, proc reader…). */
  [name: string]: unknown;
  /** The app's registry; collectors register their own metrics in it. Absent (CLI tick): no metrics. */
  registry?: Registry;
  /** Replaces the dockerode adapter over WATCHDOG_DOCKER_SOCK. */
  docker?: DockerReader;
}

/** The sources the tick runs, in the order their signals are listed. Opt-in sources are off by default. */
export function buildCollectors(config: Config, _deps: CollectorDeps = {}): Collector[] {
  const collectors: Collector[] = [];
  if (config.metricsUrl !== '') collectors.push(new OrchestratorCollector(config));
  collectors.push(new MemoryCollector(config));
  if (config.diskCritEnabled) collectors.push(new DiskCollector(config));
  // Without the app's instance (the one-shot CLI tick) the scan runs but never reaps.
  if (config.procEnabled) collectors.push(_deps.proc instanceof ProcCollector ? _deps.proc : new ProcCollector(config, { allowReap: false }));
  if (config.containers.length > 0) {
    const docker = _deps.docker ?? new DockerodeReader(config.dockerSock);
    collectors.push(new ContainerCollector(config, docker, { metrics: _deps.registry && createContainerMetrics(_deps.registry) }));
  }
  if (config.deps.length > 0) collectors.push(new DepCollector(config, { metrics: _deps.registry && createDepMetrics(_deps.registry) }));
  return collectors;
}
