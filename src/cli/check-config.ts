import { lookup } from 'node:dns/promises';
import { networkInterfaces } from 'node:os';
import pino from 'pino';
import { checkPrivileges, defaultValue, loadConfig, type Config, type ConfigWarning } from '../config.js';
import { dockerReaderFor } from '../sources/index.js';
import { agentsOf, fetchEnvelope } from '../sources/orchestrator/collector.js';
import { ProcCollector } from '../sources/proc/collector.js';
import { checkStatePath } from '../state/state-file.js';
import { AgentDirectory } from '../watchdog/agent-directory.js';
import { helpOrUnknown, type CliIo } from './io.js';

export const CHECK_CONFIG_USAGE = `usage: orch-watchdog check-config

Validates every WATCHDOG_* variable of this shell as the server would read it, and what this
user may do of what they turn on: malformed values, unknown (misspelled) keys, settings that
cannot work together, a WATCHDOG_HOST the server cannot listen on, a WATCHDOG_STATE_FILE it
would refuse (one others could have written), and privileges the enabled features need (switching to a re-test's user, signalling other users' processes, the Docker
socket). With the /proc scan on and WATCHDOG_METRICS_URL set, it also fetches the envelope and
places the agents' pids on this host (WATCHDOG_ORCH_CONTAINER). Run it as the user the server
runs as.
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

/** A WATCHDOG_STATE_FILE the server would refuse (StrictModes) and run without. */
function stateFileWarning(stateFile: string): ConfigWarning | null {
  if (stateFile === '') return null;
  const verdict = checkStatePath(stateFile);
  return verdict.ok ? null : { key: 'WATCHDOG_STATE_FILE', value: stateFile, message: `would be refused: ${verdict.why}` };
}

/** The longest the agent-pid check's /proc scan may take. */
const SCAN_MAX_MS = 30_000;

/** Places the agents' pids on this host the way the server does: envelope, WATCHDOG_ORCH_CONTAINER, one scan; `note` says what was checked. */
async function checkAgentPids(config: Config): Promise<{ problems: ConfigWarning[]; note: string }> {
  const outcome = await fetchEnvelope(config.metricsUrl, config.httpTimeoutS * 1000);
  if (!outcome.ok) return { problems: [], note: `agent pids not checked: the envelope could not be read (${outcome.reason})` };
  const agents = new AgentDirectory();
  agents.update(agentsOf(outcome.envelope));
  const listed = agents.listed.filter((a) => a.pid !== null).length;
  if (listed === 0) return { problems: [], note: 'agent pids not checked: the envelope lists no agent with a pid' };
  const proc = new ProcCollector(config, { agents, docker: dockerReaderFor(config), allowReap: false });
  try {
    const ctx = { abortSignal: AbortSignal.timeout(SCAN_MAX_MS), now: Date.now(), log: pino({ level: 'silent' }) };
    const warnings = await proc.checkAgentPids(ctx);
    const view = agents.pidView;
    const where = view.kind === 'shared' ? "in the watchdog's PID view" : `in container ${config.orchContainer}`;
    if (view.kind === 'stopped') return { problems: [], note: `agent pids not checked: container ${view.container} is ${view.status}` };
    return {
      problems: warnings.map((w) => ({ key: w.key, value: w.value, message: w.message })),
      note: `agent pids: ${agents.byHostPid().size} of ${listed} placed ${where}`,
    };
  } finally {
    await proc.close();
  }
}

/** `orch-watchdog check-config`: strict where the server is lenient — exit 1 listing every problem. */
export async function checkConfigCommand(args: string[], io: CliIo): Promise<number> {
  const early = helpOrUnknown('check-config', args, [], CHECK_CONFIG_USAGE, io);
  if (early !== null) return early;
  const { config, warnings } = loadConfig(io.env);
  const found = [...warnings, await hostWarning(config.host), stateFileWarning(config.stateFile), ...checkPrivileges(config)];
  const problems = found.filter((w) => w !== null);
  const agentCheck = config.procEnabled && config.metricsUrl !== '' ? await checkAgentPids(config) : null;
  if (agentCheck) problems.push(...agentCheck.problems);
  if (problems.length === 0) {
    io.stdout('configuration OK\n');
    if (agentCheck) io.stdout(`${agentCheck.note}\n`);
    return 0;
  }
  io.stderr(`${problems.length} configuration problem(s):\n`);
  for (const w of problems) io.stderr(`  ${w.key}=${JSON.stringify(w.value)}: ${w.message}\n`);
  if (agentCheck) io.stderr(`${agentCheck.note}\n`);
  return 1;
}
