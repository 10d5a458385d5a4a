/** Small readers for the operator-facing text files the deploy tests keep in sync. */

export interface EnvEntry {
  key: string;
  value: string;
  /** The comment lines directly above the key, joined. */
  comment: string;
}

/** `KEY=value` lines of a dotenv file (no quoting: .env.example uses none, and compose's env_file would keep quotes). */
export function parseEnvFile(text: string): EnvEntry[] {
  const entries: EnvEntry[] = [];
  let comment: string[] = [];
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '') {
      comment = [];
    } else if (trimmed.startsWith('#')) {
      comment.push(trimmed.replace(/^#\s?/, ''));
    } else {
      const eq = trimmed.indexOf('=');
      if (eq <= 0) throw new Error(`not KEY=value: ${line}`);
      entries.push({ key: trimmed.slice(0, eq), value: trimmed.slice(eq + 1), comment: comment.join(' ') });
      comment = [];
    }
  }
  return entries;
}

export interface ConfigRow {
  key: string;
  defaultValue: string;
  meaning: string;
}

/** Rows of the `| key | default | meaning |` table under README's `## Configuration`. */
export function readmeConfigTable(readme: string): ConfigRow[] {
  const start = readme.search(/^## Configuration\s*$/m);
  if (start < 0) throw new Error('README has no "## Configuration" section');
  const rest = readme.slice(start + 3);
  const next = rest.search(/^## /m);
  const section = next >= 0 ? rest.slice(0, next) : rest;
  const rows: ConfigRow[] = [];
  for (const line of section.split('\n')) {
    const m = /^\|\s*`(WATCHDOG_[A-Z0-9_]+)`\s*\|\s*(.*?)\s*\|\s*(.*?)\s*\|\s*$/.exec(line);
    if (!m) continue;
    const [, key, rawDefault, meaning] = m as unknown as [string, string, string, string];
    const ticked = /^`(.*)`$/.exec(rawDefault);
    if (!ticked && rawDefault !== 'empty') throw new Error(`README default for ${key} is neither \`value\` nor "empty": ${rawDefault}`);
    rows.push({ key, defaultValue: ticked ? ticked[1]! : '', meaning });
  }
  return rows;
}
