import { describe, expect, it } from 'vitest';
import { escapeHtml } from '../src/notify/format.js';
import { boundForRedaction, measureRedaction, redactArgv, redactCommandLine, redactSecrets, truncate } from '../src/redact.js';

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
    [
      'https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage',
      'https://api.telegram.org/bot123456789:***/sendMessage',
    ],
    ['token 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw', 'token 123456789:***'],
    ['https://h/cb?access_token=abc&page=2', 'https://h/cb?access_token=***&page=2'],
    ['{"password": "hunter2", "user": "bob"}', '{"password": "***", "user": "bob"}'],
    ['{"token":"abc"}', '{"token":"***"}'],
    ['secret: hunter2', 'secret: ***'],
  ])('%s', (input, expected) => {
    expect(redactSecrets(input)).toBe(expected);
  });
});

// Incident guarded: each of these reached the unauthenticated /proc/candidates, the log or Telegram in clear.
describe('hostile command lines: every known secret shape is hidden', () => {
  it.each([
    ['redis URL with an empty user', 'redis-cli -u redis://:R3disPW@cache:6379/0', 'redis-cli -u redis://:***@cache:6379/0'],
    ['mysql -pPW', 'mysql -h db -u app -pMyS3cretPW appdb', 'mysql -h db -u app -p*** appdb'],
    ['mysqldump -pPW', '/usr/bin/mysqldump -pDumpPW x', '/usr/bin/mysqldump -p*** x'],
    ['sshpass -p PW', 'sshpass -p SshPW ssh deploy@host', 'sshpass -p *** ssh deploy@host'],
    ['sshpass -pPW', 'sshpass -pSshPW ssh host', 'sshpass -p*** ssh host'],
    ['curl -u user:PW', 'curl -u admin:CurlPW https://h/api', 'curl -u admin:*** https://h/api'],
    ['curl --user=user:PW', 'curl --user=admin:CurlPW https://h', 'curl --user=admin:*** https://h'],
    ['--pw=PW', 'tool --pw=FlagPW run', 'tool --pw=*** run'],
    ['--pw PW', 'tool --pw FlagPW run', 'tool --pw *** run'],
    ['DB_PASS=PW', 'DB_PASS=EnvPW pytest', 'DB_PASS=*** pytest'],
    ['MYSQL_PWD=PW', 'env MYSQL_PWD=EnvPW mysql', 'env MYSQL_PWD=*** mysql'],
    [
      'a GitHub token alone',
      'git push https://x-access-token@github.com ghp_abcdefghijklmnopqrstuvwxyz0123456789',
      'git push https://x-access-token@github.com ***',
    ],
    ['a fine-grained GitHub token', 'gh auth github_pat_11ABCDEFG0123456789_abcdefghijklmnop', 'gh auth ***'],
    ['a fine-grained GitHub token, no "gh" elsewhere', 'push github_pat_11ABCDEFG0123456789_abcdefghijklmnop', 'push ***'],
    [
      'a Sentry DSN',
      'SENTRY=https://0123456789abcdef0123456789abcdef@o1.ingest.sentry.io/42 run',
      'SENTRY=https://***@o1.ingest.sentry.io/42 run',
    ],
    [
      '?sig= (Azure SAS)',
      'curl https://acct.blob.core.windows.net/c/f?sv=2020&sig=AzSigPW%3D&se=1',
      'curl https://acct.blob.core.windows.net/c/f?sv=2020&sig=***&se=1',
    ],
    [
      'X-Amz-Signature=',
      'wget "https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIAX%2F1&X-Amz-Signature=abc123def"',
      'wget "https://b.s3.amazonaws.com/k?X-Amz-Credential=***&X-Amz-Signature=***"',
    ],
    ['--cookie', 'curl --cookie "session=CookiePW; theme=dark" https://h', 'curl --cookie "***" https://h'],
    ['a Cookie header', "curl -H 'Cookie: session=CookiePW; a=b' https://h", "curl -H 'Cookie: ***' https://h"],
    ['a JWT', 'client --header x-jwt:eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl go', 'client --header x-jwt:*** go'],
    ['openssl -k PW', 'openssl enc -aes-256-cbc -k OsslPW -in f', 'openssl enc -aes-256-cbc -k *** -in f'],
    ['openssl -pass pass:PW', 'openssl enc -pass pass:OsslPW -in f', 'openssl enc -pass *** -in f'],
  ])('%s', (_name, input, expected) => {
    expect(redactSecrets(input)).toBe(expected);
    expect(redactSecrets(expected)).toBe(expected);
  });

  // the former regex took the *last* -p on the line, so ssh's port was hidden and sshpass's password shown
  it.each([
    ['sshpass -p SshPW ssh -p 2222 deploy@host', 'sshpass -p *** ssh -p 2222 deploy@host'],
    ['mysql -pMyPW -h db -e "select 1" -p', 'mysql -p*** -h db -e "select 1" -p'],
    ['openssl enc -k OsslPW -in f -k other', 'openssl enc -k *** -in f -k other'],
  ])('the flag right after the program is the one hidden: %s', (input, expected) => {
    expect(redactSecrets(input)).toBe(expected);
  });

  it.each([
    [['sshpass', '-p', 'two word PW', 'ssh', 'h'], 'sshpass -p *** ssh h'],
    [['/usr/bin/openssl', 'enc', '-k', 'pass phrase', '-in', 'f'], '/usr/bin/openssl enc -k *** -in f'],
    [['curl', '-u', 'admin:Curl PW', 'https://h'], 'curl -u admin:*** https://h'],
  ])('argv %j', (argv, expected) => {
    expect(redactArgv(argv)).toBe(expected);
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
    'pytest -p no:cacheprovider -k "slow and not net"',
    'curl -k https://self-signed.local/',
    'ssh -p 2222 deploy@host',
    'OLDPWD=/tmp make',
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
    expect(truncate('😀'.repeat(10), 6)).toBe('😀😀…');
  });
  it('measures the rendered length (an HTML escape is never cut in half)', () => {
    expect(truncate('<<<<<', 10, escapeHtml)).toBe('<<…');
  });
});

/** Periodic text is what made the former regular expressions quadratic: each start re-read the run. */
const HOSTILE_MOTIFS = [
  'a',
  '1',
  '=',
  'a=',
  'a:b@',
  'x://a:',
  ' -a',
  '--x="',
  'eyJa-',
  'mysql x ',
  'sshpass -p ',
  'openssl -k ',
  'Authorization: ',
  'Set-Cookie ',
  'bearer ',
  '"a": "\\',
  "'a': '",
  'a: ',
  '?a=',
  'cookie--openssl x://authorization',
  'python3 -m pytest tests/test_api.py -x --token=abc DB_PASSWORD=x https://u:p@h/x?sig=1 "password": "y" ',
];
const repeatTo = (motif: string, chars: number): string => motif.repeat(Math.ceil(chars / motif.length)).slice(0, chars);

// Incident guarded: 400 `pytest` processes with a 4,070-letter argument made /healthz take 15.5 s; a
// 15,000-letter URL blocked the event loop 0.55 s; 15 arguments of 65,000 letters blocked it 155 s.
describe('redaction looks at each character a bounded number of times, whatever the text', () => {
  it.each(HOSTILE_MOTIFS)('%j repeated: the characters looked at grow 10× when the text grows 10×', (motif) => {
    const small = measureRedaction(repeatTo(motif, 10_000)).steps;
    const large = measureRedaction(repeatTo(motif, 100_000)).steps;
    expect(large / 100_000).toBeLessThan(40);
    expect(large / small).toBeGreaterThan(9.9);
    expect(large / small).toBeLessThan(10.1);
  });

  it('the measure is the redaction itself: the same text comes out', () => {
    const text = 'run --token abc https://u:p@h';
    expect(measureRedaction(text).text).toBe(redactSecrets(text));
  });
});

describe('command lines are bounded before they are redacted', () => {
  it('a 1 MB argv costs what its first 4 KiB cost', () => {
    const argv = ['pytest', ...Array.from({ length: 100 }, () => 'a= '.repeat(3_333))];
    const shown = redactCommandLine(argv, 512);
    expect(shown).toHaveLength(512);
    const bounded = measureRedaction(redactArgv(argv).slice(0, 4096)).steps;
    const whole = measureRedaction(redactArgv(argv)).steps;
    expect(whole).toBeGreaterThan(100 * bounded);
  });

  it('a word the bound cuts is dropped, never kept in part (a half URL credential no rule would recognise)', () => {
    const url = `https://bob:${'p'.repeat(200)}@host/x`;
    expect(boundForRedaction(`${'a '.repeat(40)}${url}`, 100)).toBe(`${'a '.repeat(40).trimEnd()}…`);
    expect(boundForRedaction('x'.repeat(300), 100)).toBe('…');
    expect(boundForRedaction('short', 100)).toBe('short');
  });

  it('redactCommandLine hides the secrets of what it keeps and cuts to the shown length', () => {
    expect(redactCommandLine(['mysql', '-pS3cret', 'db'], 512)).toBe('mysql -p*** db');
    const long = redactCommandLine(['pytest', '--token', 'abc', 'x'.repeat(5_000)], 512);
    expect(long.startsWith('pytest --token *** …')).toBe(true);
  });
});
