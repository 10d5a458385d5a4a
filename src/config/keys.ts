import type { z } from 'zod';
import { ACT_KEYS } from './keys-act.js';
import { OBSERVE_KEYS } from './keys-observe.js';

export type { KeySpec } from './parsers.js';

/** Every WATCHDOG_* key in README order: one declaration each (KeySpec in parsers.ts says what one holds). */
export const KEY_SPECS = [...OBSERVE_KEYS, ...ACT_KEYS] as const;

type Specs = (typeof KEY_SPECS)[number];
export type ConfigKey = Specs['key'];
/** The typed configuration: one field per key, typed by its parser. */
export type Config = { -readonly [S in Specs as S['field']]: z.output<S['schema']> };
