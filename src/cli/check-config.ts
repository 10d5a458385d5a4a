import { loadConfig } from '../config.js';
import { checkStatePath } from '../state/state-path.js';
import type { CliIo } from './io.js';

/** `orch-watchdog check-config`: strict where the server is lenient — exit 1 listing every problem. */
export function checkConfigCommand(io: CliIo): number {
  const { config, warnings } = loadConfig(io.env);
  if (config.stateFile !== '') {
    // the server would refuse it and run with memory only
    const verdict = checkStatePath(config.stateFile, process.getuid?.() ?? 0, [`${config.stateFile}.lock`]);
    if (!verdict.ok) warnings.push({ key: 'WATCHDOG_STATE_FILE', value: config.stateFile, message: `would be refused: ${verdict.why}` });
  }
  if (warnings.length === 0) {
    io.stdout('configuration OK\n');
    return 0;
  }
  io.stderr(`${warnings.length} configuration problem(s):\n`);
  for (const w of warnings) io.stderr(`  ${w.key}=${JSON.stringify(w.value)}: ${w.message}\n`);
  return 1;
}
