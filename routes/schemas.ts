import { z } from 'zod';
import { FAMILIES } from '../src/watchdog/signal.js';

export const isoTimestamp = z.string().describe('ISO-8601 UTC timestamp');

export const signalSchema = z
  .object({
    key: z.string().describe('`family` or `family:entity`'),
    family: z.enum(FAMILIES),
    entity: z.string().nullable(),
    active: z.boolean(),
    severity: z.enum(['critical', 'warning']),
    title: z.string(),
    detail: z.string(),
  })
  .meta({ id: 'Signal' });
