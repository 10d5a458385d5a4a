import { describe, expect, it } from 'vitest';
import { redactArgv, redactSecrets, truncate } from '../src/redact.js';

// Incident guarded: a pytest command line with --password/--token ended up verbatim in a Telegram chat.
describe('redactSecrets hides secrets and keeps their names', () => {
  it.each([
    ['--password=hunter2', '--password=***'],
    ['pytest --password hunter2 -x', 'pytest --password *** -x'],
    ['run --token abc123 --verbose', 'run --token *** --verbose'],
    ['run --api-key=AKIA123', 'run --api-key=***'],
    ['run --apikey AKIA123', 'run --apikey ***'],
    ['run --db-password "two words"', 'run --db-password "***"'],
    ["run --client-secret='s3cr3t'", "run --client-secret='***'"],
    ['run --passwd x', 'run --passwd ***'],
    ['run --pass x', 'run --pass ***'],
    ['run -token=abc', 'run -token=***'],
    ['run --auth user:pw', 'run --auth ***'],
    ['run --credentials /etc/creds.json', 'run --credentials ***'],
    ['GITHUB_TOKEN=ghp_abcdef pytest', 'GITHUB_TOKEN=*** pytest'],
    ['env DB_PASSWORD=x MY_SECRET=y AWS_SECRET_ACCESS_KEY=z cmd', 'env DB_PASSWORD=*** MY_SECRET=*** AWS_SECRET_ACCESS_KEY=*** cmd'],
    ['api_key=abc', 'api_key=***'],
    ['Passwd=abc', 'Passwd=***'],
    ['git clone https://bob:pa55@example.com/r.git', 'git clone https://bob:***@example.com/r.git'],
    ['postgres://app:secret@db:5432/x', 'postgres://app:***@db:5432/x'],
    ['curl -H "Authorization: Bearer eyJhbGciOi.x.y"', 'curl -H "Authorization: Bearer ***"'],
    ['Authorization: Basic dXNlcjpwYXNz', 'Authorization: Basic ***'],
    ['Authorization: abc123', 'Authorization: ***'],
    ['got bearer abc.def from server', 'got bearer *** from server'],
    ['https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage', 'https://api.telegram.org/bot123456789:***/sendMessage'],
    ['token 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw', 'token 123456789:***'],
    ['https://h/cb?access_token=abc&page=2', 'https://h/cb?access_token=***&page=2'],
    ['{"password": "hunter2", "user": "bob"}', '{"password": "***", "user": "bob"}'],
    ['{"token":"abc"}', '{"token":"***"}'],
    ['secret: hunter2', 'secret: ***'],
  ])('%s', (input, expected) => {
    expect(redactSecrets(input)).toBe(expected);
  });
});

describe('redactSecrets leaves ordinary command lines alone', () => {
  it.each([
    'python3 -m pytest tests/test_api.py -k "slow and not net" -x',
    'git commit --author "Bob <bob@example.com>" -m fix',
    'ssh://git@github.com/org/repo.git',
    'sleep 60',
    'node dist/src/server.js --port 8787',
    'pytest --keyword fast --monkey=banana',
    'KEYBOARD=us PWD=/home/bob make',
    'http://localhost:8080/healthz',
  ])('%s', (input) => {
    expect(redactSecrets(input)).toBe(input);
  });
});

describe('redactSecrets is idempotent', () => {
  it('redacting twice changes nothing more, so layered callers cannot corrupt text', () => {
    const once = redactSecrets('a --token x B_TOKEN=y https://u:p@h Authorization: Bearer z');
    expect(redactSecrets(once)).toBe(once);
    expect(once).not.toMatch(/\bx\b|=y|:p@|\bz\b/);
  });
});

describe('redactArgv works on argv elements', () => {
  it('hides a multi-word value of a secret flag that joining would split', () => {
    expect(redactArgv(['pytest', '--password', 'two words here', '-x'])).toBe('pytest --password *** -x');
  });
  it('does not eat the next long flag after a value-less secret flag', () => {
    expect(redactArgv(['tool', '--auth', '--verbose'])).toBe('tool --auth --verbose');
  });
  it('redacts inside an element that is a whole shell script', () => {
    expect(redactArgv(['sh', '-c', 'curl -u x --token abc http://h'])).toBe('sh -c curl -u x --token *** http://h');
  });
});

describe('truncate', () => {
  it('keeps short text and cuts long text to the limit with an ellipsis', () => {
    expect(truncate('abc', 5)).toBe('abc');
    const cut = truncate('x'.repeat(600), 512);
    expect(cut).toHaveLength(512);
    expect(cut.endsWith('…')).toBe(true);
  });
  it('never splits a surrogate pair', () => {
    const cut = truncate(`${'a'.repeat(3)}😀😀`, 5);
    expect(cut).toBe('aaa…');
  });
});
