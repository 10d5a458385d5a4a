import { isIP } from 'node:net';
import { z } from 'zod';
import { whyNotLinear } from '../safe-regex.js';

/** The key declarations of one README group (`.env.example` section): the group is named once. */
export function group(name: string) {
  return <const K extends `WATCHDOG_${string}`, const F extends string, S extends z.ZodType<unknown, string>>(
    key: K,
    field: F,
    schema: S,
    dflt: string,
    extra: {
      doc: string;
      secret?: boolean;
      /** The notifier that cannot send without this key. */
      requiredBy?: Exclude<NotifierName, 'log'>;
      /** A pattern list keeps its good entries when one is malformed, instead of the default (which could widen it). */
      onInvalid?: (raw: string) => string;
    },
  ) => ({ key, field, schema, default: dflt, group: name, secret: false, ...extra });
}

/** One declaration per WATCHDOG_* key; README, .env.example and the config type follow from it. */
export type KeySpec = ReturnType<ReturnType<typeof group>>;

/** Value parsers: each takes the raw WATCHDOG_* string and yields the typed value. */

export const boolText = z
  .string()
  .trim()
  .toLowerCase()
  .refine((v) => ['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'].includes(v), 'expected true/false, yes/no, on/off or 1/0')
  .transform((v) => ['true', '1', 'yes', 'on'].includes(v));

const numberText = (pattern: RegExp, expected: string, number: () => z.ZodNumber) => (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(pattern, expected)
    .transform(Number)
    .pipe(number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

export const numText = numberText(/^[+]?(\d+(\.\d*)?|\.\d+)$/, 'expected a non-negative number', () => z.number());
export const intText = numberText(/^[+]?\d+$/, 'expected a whole number', () => z.number().int());

function isHttpUrl(v: string): boolean {
  const protocol = URL.parse(v)?.protocol;
  return protocol === 'http:' || protocol === 'https:';
}

/** `https://hooks.example` of a URL; a path (a Slack webhook's is its secret), a query or user:pass@ never shows. */
export function urlOrigin(text: string): string {
  const u = URL.parse(text.trim());
  return !u || u.host === '' ? '<not a URL>' : `${u.protocol}//${u.host}`;
}

const withoutTrailingSlash = (v: string) => v.replace(/\/+$/, '');

const httpUrl = z.string().trim().refine(isHttpUrl, 'expected an http(s) URL');
export const baseUrl = httpUrl.transform(withoutTrailingSlash);
export const optionalUrl = z.union([z.literal(''), httpUrl]);

// trimmed, empty entries dropped
const csvItems = (v: string): string[] => v.split(',').flatMap((s) => s.trim() || []);

const csv = z.string().transform(csvItems);

export const baseUrlList = csv.pipe(
  z.array(z.string().refine(isHttpUrl, 'expected comma-separated http(s) URLs').transform(withoutTrailingSlash)),
);

/** Regular expressions compiled by the linear-time engine later on: refuse here what it cannot run. */
export const linearRegexList = (flags = '') =>
  csv.pipe(
    z.array(
      z.string().superRefine((p, ctx) => {
        const why = whyNotLinear(p, flags);
        if (why !== null) ctx.addIssue({ code: 'custom', message: `/${p}/: ${why}` });
      }),
    ),
  );

/** The entries of a pattern list that the linear-time engine can run: what is kept of a list with a bad entry. */
export const linearEntries =
  (flags = '') =>
  (raw: string): string =>
    csvItems(raw)
      .filter((p) => whyNotLinear(p, flags) === null)
      .join(',');

/** A host name as RFC 1123 spells one; an all-digit last label (`999.1.1.1`) is a mistyped IPv4 address, not a name. */
function isHostName(v: string): boolean {
  const labels = v.replace(/\.$/, '').split('.');
  return (
    v.length <= 253 &&
    labels.every((l) => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l)) &&
    !/^\d+$/.test(labels[labels.length - 1] ?? '')
  );
}

/** What the server can listen on: an IPv4 or IPv6 address (no brackets) or a host name; whether it resolves is for check-config. */
export const listenHost = z
  .string()
  .trim()
  .refine((v) => isIP(v) !== 0 || isHostName(v), 'expected an IPv4 address (four parts 0..255), an IPv6 address or a host name');

export const absPath = (what: string) => z.string().trim().startsWith('/', `expected an absolute ${what}`);
export const optionalAbsPath = z.union([z.literal(''), absPath('path')]);
export const absPaths = csv.pipe(z.array(z.string().startsWith('/', 'paths must be absolute')));

const containerName = z
  .string()
  .regex(/^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, 'not a valid container name')
  .transform((n) => n.replace(/^\//, ''));

export const containerNames = csv.pipe(z.array(containerName));
export const optionalContainerName = z
  .string()
  .trim()
  .pipe(z.union([z.literal(''), containerName]));

export const depList = csv
  .pipe(
    z.array(
      z.string().transform((pair, ctx) => {
        const eq = pair.indexOf('=');
        const name = eq > 0 ? pair.slice(0, eq).trim() : '';
        const url = eq > 0 ? pair.slice(eq + 1).trim() : '';
        if (!/^[A-Za-z0-9_.-]+$/.test(name) || !isHttpUrl(url)) {
          const shown = eq > 0 ? `${name}=${urlOrigin(url)}` : /[:/@]/.test(pair) ? urlOrigin(pair) : pair;
          ctx.addIssue({ code: 'custom', message: `"${shown}" is not name=http(s)://url` });
          return z.NEVER;
        }
        return { name, url };
      }),
    ),
  )
  .refine((deps) => new Set(deps.map((d) => d.name)).size === deps.length, 'dependency names must be unique');
export type Dependency = z.output<typeof depList>[number];

export const NOTIFIER_NAMES = ['log', 'telegram', 'webhook', 'alertmanager'] as const;
export type NotifierName = (typeof NOTIFIER_NAMES)[number];

export const notifierList = csv
  .pipe(z.array(z.enum(NOTIFIER_NAMES, 'expected log, telegram, webhook or alertmanager')))
  .transform((l) => [...new Set(l)]);

/** A user name or a numeric uid, as useradd(8) accepts them; empty = decided per re-test. */
export const userOrUid = z
  .string()
  .trim()
  .regex(/^([a-z_][a-z0-9_-]*\$?|\d+)?$/, 'expected a user name or a numeric uid');
