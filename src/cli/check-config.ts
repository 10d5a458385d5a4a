import pino from 'pino';
import { loadConfig, type Config, type ConfigWarning } from '../config.js';
import { dockerReaderFor } from '../sources/index.js';
import { agentsOf, fetchEnvelope } from '../sources/orchestrator/collector.js';
import { ProcCollector } from '../sources/proc/collector.js';
import { AgentDirectory } from '../watchdog/agent-directory.js';
import type { CliIo } from './io.js';

/** The longest the agent-pid check's /proc scan may take. */
const SCAN_MAX_MS = 30_000;

interface AgentCheck {
  problems: ConfigWarning[];
  /** what was checked, or why not */
  note: string;
}

/**
 * With the /proc scan on and an envelope URL, the agents' pids are placed on this host the way the
 * server does it: the envelope fetched, WATCHDOG_ORCH_CONTAINER located, one scan.
 */
async function checkAgentPids(config: Config): Promise<AgentCheck> {
  const outcome = await fetchEnvelope(config.metricsUrl, config.httpTimeoutS * 1000);
  if (!outcome.ok) return { problems: [], note: `agent pids not checked: the envelope could not be read (${outcome.reason})` };
  const agents = new AgentDirectory();
  agents.update(agentsOf(outcome.envelope), Date.now());
  const listed = agents.list().filter((a) => a.pid !== null).length;
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
      note: `agent pids: ${agents.pids().size} of ${listed} placed ${where}`,
    };
  } finally {
    await proc.close();
  }
}

/** `orch-watchdog check-config`: strict where the server is lenient — exit 1 listing every problem. */
export async function checkConfigCommand(io: CliIo): Promise<number> {
  const { config, warnings } = loadConfig(io.env);
  const problems = [...warnings];
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
