import { Gauge, type Registry } from 'prom-client';
import { METRIC_PREFIX } from '../../metrics.js';

export interface ContainerMetrics {
  dockerUp: Gauge;
}

export function createContainerMetrics(registry: Registry): ContainerMetrics {
  return {
    dockerUp: new Gauge({
      name: `${METRIC_PREFIX}docker_up`,
      help: 'Whether the Docker Engine answered the last check (1) or not (0).',
      registers: [registry],
    }),
  };
}
