import { lookup } from 'node:dns/promises';
import { networkInterfaces } from 'node:os';
import { checkPrivileges, defaultValue, loadConfig, type ConfigWarning } from '../config.js';
import type { CliIo } from './io.js';

export const CHECK_CONFIG_USAGE = `usage: orch-watchdog check-config

Validates every WATCHDOG_* variable of this shell as the server would read it, and what this
user may do of what they turn on: malformed values, unknown (misspelled) keys, settings that
cannot work together, a WATCHDOG_HOST the server cannot listen on, and privileges the enabled
features need (switching to a re-test's user, signalling other users' processes, the Docker
socket). Run it as the user the server runs as.
Exit status: 0 and "configuration OK"; 1 with every problem listed on stderr; 2 for a bad
invocation.
`;

/** A WATCHDOG_HOST that is well-formed but not this host's: the server would fall back to the default. */
async function hostWarning(host: string): Promise<ConfigWarning | null> {
  const fallback = `the server falls back to the default "${defaultValue('WATCHDOG_HOST')}"`;
  let addresses: string[];
  try {
    addresses = (await lookup(host, { all: true })).map((a) => a.address);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    return { key: 'WATCHDOG_HOST', value: host, message: `does not resolve (${code}); ${fallback}` };
  }
  const own = new Set(Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address)));
  const isOwn = (a: string) => a === '0.0.0.0' || a === '::' || a.startsWith('127.') || own.has(a);
  if (addresses.some(isOwn)) return null;
  return { key: 'WATCHDOG_HOST', value: host, message: `is ${addresses.join(', ')}, an address of no interface of this host; ${fallback}` };
}

/** `orch-watchdog check-config`: strict where the server is lenient — exit 1 listing every problem. */
export async function checkConfigCommand(args: string[], io: CliIo): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout(CHECK_CONFIG_USAGE);
    return 0;
  }
  if (args.length > 0) {
    io.stderr(`orch-watchdog check-config: unknown argument ${args[0]}\n\n${CHECK_CONFIG_USAGE}`);
    return 2;
  }
  const { config, warnings } = loadConfig(io.env);
  const host = await hostWarning(config.host);
  if (host) warnings.push(host);
  warnings.push(...checkPrivileges(config));
  if (warnings.length === 0) {
    io.stdout('configuration OK\n');
    return 0;
  }
  io.stderr(`${warnings.length} configuration problem(s):\n`);
  for (const w of warnings) io.stderr(`  ${w.key}=${JSON.stringify(w.value)}: ${w.message}\n`);
  return 1;
}
