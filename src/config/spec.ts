import type { z } from 'zod';

/** One declaration per WATCHDOG_* key; README, .env.example and the config type follow from it. */
export interface KeySpec<
  K extends `WATCHDOG_${string}` = `WATCHDOG_${string}`,
  F extends string = string,
  S extends z.ZodType<unknown, string> = z.ZodType<unknown, string>,
> {
  key: K;
  field: F;
  schema: S;
  default: string;
  doc: string;
  group: string;
  secret: boolean;
  /** Raw value used for a malformed one instead of the default (where the default would widen); a list keeps its good entries. */
  onInvalid?: string | ((raw: string) => string);
}

/** The key declarations of one README group (`.env.example` section): the group is named once. */
export function group(name: string) {
  return <const K extends `WATCHDOG_${string}`, const F extends string, S extends z.ZodType<unknown, string>>(
    key: K,
    field: F,
    schema: S,
    dflt: string,
    extra: Pick<KeySpec, 'doc' | 'onInvalid'> & { secret?: boolean },
  ): KeySpec<K, F, S> => ({ key, field, schema, default: dflt, group: name, ...extra, secret: extra.secret ?? false });
}
