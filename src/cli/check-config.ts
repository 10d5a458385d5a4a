import { loadConfig } from '../config.js';
import type { CliIo } from './io.js';

/** `orch-watchdog check-config`: strict where the server is lenient — exit 1 listing every problem. */
export function checkConfigCommand(io: CliIo): number {
  const { warnings } = loadConfig(io.env);
  if (warnings.length === 0) {
    io.stdout('configuration OK\n');
    return 0;
  }
  io.stderr(`${warnings.length} configuration problem(s):\n`);
  for (const w of warnings) io.stderr(`  ${w.key}=${JSON.stringify(w.value)}: ${w.message}\n`);
  return 1;
}
