import { z } from 'zod';
import { epochMs } from './restore-entries.js';
import type { AlertEvent } from './alert-event.js';
import { FAMILIES, isEdge, signalKey, type Signal } from './signal.js';

/** A Signal or AlertEvent restored from WATCHDOG_STATE_FILE: held to what the watchdog itself would have made. */

const ENTITY_MAX = 1024;

export const signalSchema: z.ZodType<Signal> = z
  .object({
    key: z.string().max(ENTITY_MAX + 64),
    family: z.enum(FAMILIES),
    entity: z.string().max(ENTITY_MAX).nullable(),
    active: z.boolean(),
    severity: z.enum(['critical', 'warning']),
    title: z.string().max(4096),
    detail: z.string().max(64 * 1024),
    // Infinity (never re-alert) is saved as null by JSON
    cooldownS: z
      .number()
      .nonnegative()
      .nullable()
      .optional()
      .transform((v) => (v === null ? Number.POSITIVE_INFINITY : v)),
  })
  .refine((s) => s.key === signalKey(s.family, s.entity), { message: 'key does not match family and entity', path: ['key'] })
  .transform((s) => {
    const { cooldownS, ...rest } = s;
    return cooldownS === undefined ? rest : { ...rest, cooldownS };
  });

export const alertEventSchema: z.ZodType<AlertEvent> = z.object({
  action: z.enum(['ALERT', 'REALERT', 'RECOVERY']),
  signal: signalSchema,
  at: epochMs,
  host: z.string().max(255),
  droppedBefore: z.number().int().nonnegative().optional(),
});

export const alertStateSchema = z
  .object({
    key: z.string().max(ENTITY_MAX + 64),
    family: z.enum(FAMILIES),
    entity: z.string().max(ENTITY_MAX).nullable(),
    alerting: z.boolean(),
    lastAlertAt: epochMs.nullable(),
    lastSignal: signalSchema,
  })
  .refine((s) => s.key === signalKey(s.family, s.entity) && s.lastSignal.key === s.key, {
    message: 'key does not match family, entity and the last signal',
    path: ['key'],
  })
  .refine((s) => !isEdge(s), { message: 'an edge family keeps no alert state', path: ['family'] });
