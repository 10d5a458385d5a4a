import { readFileSync, writeFileSync } from 'node:fs';
import { KEY_SPECS } from '../src/config.js';

/** Rewrites README's configuration table and .env.example from the key declarations in src/config/keys.ts. */

const root = new URL('../../', import.meta.url);

function readmeTable(): string {
  const rows = KEY_SPECS.map((s) => `| \`${s.key}\` | ${s.default === '' ? 'empty' : `\`${s.default}\``} | ${s.doc} |`);
  return ['| key | default | meaning |', '| --- | --- | --- |', ...rows].join('\n');
}

function envExample(header: string): string {
  const lines: string[] = [header.trimEnd()];
  let group = '';
  for (const s of KEY_SPECS) {
    if (s.group !== group) {
      group = s.group;
      lines.push('', `# --- ${group} ---`, '');
    }
    lines.push(`# ${s.doc}`, `${s.key}=${s.default}`);
  }
  return `${lines.join('\n')}\n`;
}

const readmeUrl = new URL('README.md', root);
const readme = readFileSync(readmeUrl, 'utf8');
const start = readme.indexOf('| key | default | meaning |', readme.search(/^## Configuration\s*$/m));
const end = readme.indexOf('\n\n', start);
writeFileSync(readmeUrl, `${readme.slice(0, start)}${readmeTable()}${readme.slice(end)}`);

const envUrl = new URL('.env.example', root);
const env = readFileSync(envUrl, 'utf8');
writeFileSync(envUrl, envExample(env.slice(0, env.indexOf('\n# ---'))));
