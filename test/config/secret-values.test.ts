import { describe, expect, it } from 'vitest';
import { secretValuesOf } from '../../src/config.js';
import { measureRedaction, registerSecretValues } from '../../src/redact.js';
import { testConfig } from '../support/app.js';

describe('the configured values that are secrets', () => {
  it("tokens, the chat id, passwords, the webhook's and Alertmanager's path and query; never a user name, a dependency's path or a default", () => {
    const values = secretValuesOf(
      testConfig({
        apiToken: 'api-token-1',
        tgBotToken: '123456:bot-secret-half',
        tgChatId: '-1009876',
        webhookSecret: 'signing-key',
        webhookUrl: 'https://hook:hookPw@hooks.example/services/T0/B0/abcdefghijklmnop0123?sig=QuerySig',
        alertmanagerUrls: ['http://am:amPw@am:9093'],
        metricsUrl: 'http://orch:9000/metrics?key=MetricsKey',
        deps: [{ name: 'db', url: 'http://db:dbPw@db:8080/health' }],
      }),
    );
    expect(values).toEqual(
      expect.arrayContaining([
        'api-token-1',
        '123456:bot-secret-half',
        'bot-secret-half',
        '-1009876',
        'signing-key',
        'hookPw',
        Buffer.from('hook:hookPw').toString('base64'),
        '/services/T0/B0/abcdefghijklmnop0123',
        'abcdefghijklmnop0123',
        'sig=QuerySig',
        'QuerySig',
        'amPw',
        'MetricsKey',
        'dbPw',
      ]),
    );
    for (const notSecret of ['hook', 'am', 'orch', '/health', '/metrics', 'https://api.telegram.org'])
      expect(values).not.toContain(notSecret);
  });

  it('a registered value is hidden wherever it stands, URL-encoded too; shorter than 4 characters it is left alone', () => {
    registerSecretValues(['s3cr3t/value', 'ab']);
    expect(measureRedaction('peer said: no hook s3cr3t/value or s3cr3t%2Fvalue; ab').text).toBe('peer said: no hook *** or ***; ab');
  });
});
