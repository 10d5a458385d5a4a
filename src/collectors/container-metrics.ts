import { Gauge, type Registry } from 'prom-client';

export interface ContainerMetrics {
  dockerUp: Gauge;
}

export function createContainerMetrics(registry: Registry): ContainerMetrics {
  return {
    dockerUp: new Gauge({
      name: 'orch_watchdog_docker_up',
      help: 'Whether the Docker Engine answered the last check (1) or not (0).',
      registers: [registry],
    }),
  };
}
