import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { HttpError } from './errors.js';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Every non-GET route: 403 when WATCHDOG_API_TOKEN is empty (writes off), 401 on a wrong token (constant-time compare). */
export function requireBearer(apiToken: string) {
  const expected = digest(apiToken);
  return async (req: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    if (apiToken === '') throw new HttpError('forbidden', 'write routes are disabled: set WATCHDOG_API_TOKEN on the server');
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m?.[1]) throw new HttpError('unauthorized', 'send Authorization: Bearer <WATCHDOG_API_TOKEN>');
    if (!timingSafeEqual(digest(m[1]), expected)) throw new HttpError('unauthorized', 'the bearer token is not valid');
  };
}
