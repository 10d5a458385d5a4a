import { describe, expect, it } from 'vitest';
import { describeHttpError, getText } from '../src/http.js';
import { refusedUrl } from './support/http-server.js';

// The reason lands in /signals, the log and alert details: an unmapped error message may quote the URL.
describe('describeHttpError', () => {
  it('maps a real refused connection to a short reason without the URL', async () => {
    const url = (await refusedUrl()).replace('://', '://u:refusedPassSecret@');
    const err = await getText(`${url}/x?token=q`, { timeoutMs: 2000 }).catch((e: unknown) => e);
    expect(describeHttpError(err)).toBe('connection refused');
  });

  it('redacts credentials and token query values in any other message', () => {
    const text = describeHttpError(new Error('invalid response from http://orch:orchPassSecret@h:1/m?access_token=qTokSecret'));
    expect(text).not.toMatch(/orchPassSecret|qTokSecret/);
    expect(text).toContain('http://orch:***@h:1/m?access_token=***');
  });
});
