import type { Logger } from 'pino';
import { z } from 'zod';
import { FAMILIES, isEdge, signalKey, type AlertEvent, type Signal } from './signal.js';

/** Dropped entries logged one by one per section and restore; beyond that, only counted. */
const LOGGED_DROPS = 20;
const ENTITY_MAX = 1024;

/** ms since the epoch, 2000..2200: a saved time outside it is damage, and would break an ISO rendering. */
export const epochMs = z
  .number()
  .min(Date.UTC(2000, 0, 1))
  .max(Date.UTC(2200, 0, 1));

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Where an entry failed, and how: the field path and zod's message, never the value (it may hold a secret). */
export function issueText(error: z.ZodError): string {
  const issue = error.issues[0];
  return `${issue?.path.join('.') || '(entry)'}: ${issue?.message ?? 'malformed'}`;
}

/** Drops each malformed restored entry with a log line naming it (`label`, never its content: it may hold a secret). */
export class DropLog {
  private count = 0;

  constructor(
    private readonly section: string,
    private readonly log: Logger,
  ) {}

  drop(label: string, reason: string): void {
    this.count += 1;
    if (this.count <= LOGGED_DROPS) this.log.warn({ section: this.section, entry: label, reason }, 'state file: dropped a malformed entry');
  }

  /** Each entry of `list` that `schema` accepts; `label(i)` names an entry in the log. */
  keep<T>(list: readonly unknown[], schema: z.ZodType<T>, label: (i: number) => string): T[] {
    const kept: T[] = [];
    list.forEach((entry, i) => {
      const parsed = schema.safeParse(entry);
      if (parsed.success) kept.push(parsed.data);
      else this.drop(label(i), issueText(parsed.error));
    });
    return kept;
  }

  /** Ends the restore: the total, when some were dropped beyond the ones logged. */
  done(): void {
    const more = this.count - LOGGED_DROPS;
    if (more > 0) this.log.warn({ section: this.section, dropped: this.count }, `state file: ${more} more malformed entries dropped`);
  }
}

// A Signal, AlertEvent or AlertState restored from WATCHDOG_STATE_FILE is held to what the watchdog itself would have made.
const signalSchema: z.ZodType<Signal> = z
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
  .refine((s) => s.key === signalKey(s.family, s.entity), { message: 'key does not match family and entity', path: ['key'] });

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
    /** The signal as last seen, so a vanished one can still be described in its RECOVERY. */
    lastSignal: signalSchema,
  })
  .refine((s) => s.key === signalKey(s.family, s.entity) && s.lastSignal.key === s.key, {
    message: 'key does not match family, entity and the last signal',
    path: ['key'],
  })
  .refine((s) => !isEdge(s), { message: 'an edge family keeps no alert state', path: ['family'] });
