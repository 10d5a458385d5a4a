import type { Registry } from 'prom-client';
import type { Config } from '../config.js';
import type { AgentDirectory } from '../watchdog/agent-directory.js';
import type { Collector } from '../watchdog/signal.js';
import { DiskCollector, MemoryCollector } from './host/collector.js';
import { OrchestratorCollector } from './orchestrator/collector.js';
import { ContainerCollector, createContainerMetrics } from './containers/collector.js';
import { createDepMetrics, DepCollector } from './deps/collector.js';
import { DockerodeReader, type DockerReader } from './containers/docker-client.js';
import { ProcCollector } from './proc/collector.js';

interface CollectorDeps {
  /** The app's scan (it reaps and serves /proc/candidates); absent (CLI tick): a scan-only instance. */
  proc?: ProcCollector;
  /** The app's registry; collectors register their own metrics in it. Absent (CLI tick): no metrics. */
  registry?: Registry;
  /** Replaces the Engine API reader over WATCHDOG_DOCKER_SOCK. */
  docker?: DockerReader;
  /** Filled from each good envelope; the /proc scan reads it. */
  agents?: AgentDirectory;
}

/** The read-only Engine client, built when something reads the Engine: WATCHDOG_CONTAINERS or WATCHDOG_ORCH_CONTAINER. */
export function dockerReaderFor(config: Pick<Config, 'containers' | 'orchContainer' | 'dockerSock'>): DockerReader | undefined {
  return config.containers.length > 0 || config.orchContainer !== '' ? new DockerodeReader(config.dockerSock) : undefined;
}

/** The sources the tick runs, in the order their signals are listed. Opt-in sources are off by default. */
export function buildCollectors(config: Config, deps: CollectorDeps = {}): Collector[] {
  const collectors: Collector[] = [];
  if (config.metricsUrl !== '') collectors.push(new OrchestratorCollector(config, { agents: deps.agents }));
  collectors.push(new MemoryCollector(config));
  if (config.diskCritEnabled) collectors.push(new DiskCollector(config));
  if (config.procEnabled) collectors.push(deps.proc ?? new ProcCollector(config, { allowReap: false }));
  const docker = deps.docker ?? dockerReaderFor(config);
  if (docker && config.containers.length > 0) {
    collectors.push(new ContainerCollector(config, docker, { metrics: deps.registry && createContainerMetrics(deps.registry) }));
  }
  if (config.deps.length > 0) collectors.push(new DepCollector(config, { metrics: deps.registry && createDepMetrics(deps.registry) }));
  return collectors;
}
