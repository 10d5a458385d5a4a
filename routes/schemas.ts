import { z } from 'zod';
import { FAMILIES } from '../src/watchdog/signal.js';

export const isoTimestamp = z.string().describe('ISO-8601 UTC timestamp');

export const signalSchema = z
  .object({
    key: z.string().describe('`family` or `family:entity`'),
    family: z.enum(FAMILIES).describe('docs/behaviour.md, Families'),
    entity: z.string().nullable().describe('the run id, path, container, dependency, pid or repo@branch; null for a family without one'),
    active: z.boolean().describe('the problem is present now'),
    severity: z.enum(['critical', 'warning']),
    title: z.string().describe('one line for a human (WATCHDOG_LOCALE), secrets redacted'),
    detail: z.string().describe('what and what to do, secrets redacted'),
  })
  .meta({ id: 'Signal' });
