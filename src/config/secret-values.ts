import { basicCredentials, decodeUrlPart } from '../http.js';
import type { Config } from './keys.js';

/** Path segments at least this long are token-like (a Slack or Discord hook's last segment): hidden alone too. */
const TOKEN_SEGMENT_CHARS = 16;

/** The password of `user:pass@` (raw, decoded, and as the Basic credentials sent) and the query of a URL; with `withPath` its path too. */
function urlSecrets(raw: string, withPath: boolean): string[] {
  const u = URL.parse(raw);
  if (!u) return [];
  const out: string[] = [];
  const basic = basicCredentials(u);
  if (basic !== undefined) {
    const user = decodeUrlPart(u.username);
    out.push(u.password, decodeUrlPart(u.password), basic);
    // a user name is a name (`admin`, `hook`), unless it is a key used as the whole userinfo (a Sentry DSN)
    if (user.length >= TOKEN_SEGMENT_CHARS) out.push(u.username, user);
  }
  if (u.search.length > 1) {
    out.push(u.search.slice(1), decodeUrlPart(u.search.slice(1)));
    for (const value of u.searchParams.values()) out.push(value);
  }
  if (withPath && u.pathname !== '/' && u.pathname !== '') {
    out.push(u.pathname, decodeUrlPart(u.pathname));
    for (const segment of u.pathname.split('/')) if (segment.length >= TOKEN_SEGMENT_CHARS) out.push(segment, decodeUrlPart(segment));
  }
  return out;
}

/** Every configured secret, for redaction by value; a webhook URL's path counts (a receiver's path is often its token). */
export function secretValuesOf(
  config: Pick<
    Config,
    'apiToken' | 'tgBotToken' | 'tgChatId' | 'tgApiUrl' | 'webhookSecret' | 'webhookUrl' | 'alertmanagerUrls' | 'metricsUrl' | 'deps'
  >,
): string[] {
  const token = config.tgBotToken;
  return [
    config.apiToken,
    token,
    token.slice(token.indexOf(':') + 1),
    config.tgChatId,
    config.webhookSecret,
    ...urlSecrets(config.webhookUrl, true),
    ...config.alertmanagerUrls.flatMap((url) => urlSecrets(url, true)),
    ...urlSecrets(config.tgApiUrl, false),
    ...urlSecrets(config.metricsUrl, false),
    ...config.deps.flatMap((d) => urlSecrets(d.url, false)),
  ].filter((v) => v !== '');
}
