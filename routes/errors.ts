import type { FastifyError, FastifyInstance } from 'fastify';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { z } from 'zod';

/** The one error shape of every route (CONTRACT §3). */
export const errorSchema = z.object({ error: z.string(), message: z.string() }).meta({ id: 'Error' });

export type ErrorBody = z.infer<typeof errorSchema>;

export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** 4xx messages tell the caller what to fix; 5xx messages are masked (details go to the log). */
export function registerErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof HttpError) return reply.code(err.statusCode).send({ error: err.code, message: err.message });
    if (hasZodFastifySchemaValidationErrors(err)) {
      const where = err.validationContext ?? 'request';
      const issues = err.validation.map((v) => {
        const field = v.instancePath.replace(/^\//, '').replace(/\//g, '.') || (v.params as { issue?: { path?: unknown[] } }).issue?.path?.join('.') || '';
        return `${where}${field ? `.${field}` : ''}: ${v.message}`;
      });
      return reply.code(400).send({ error: 'bad_request', message: issues.join('; ') });
    }
    if (isResponseSerializationError(err)) {
      req.log.error({ err, issues: err.cause.issues }, 'response did not match its schema');
      return reply.code(500).send({ error: 'internal', message: 'internal error' });
    }
    const status = err.statusCode ?? 500;
    if (status >= 500) {
      req.log.error({ err }, 'request failed');
      return reply.code(status).send({ error: 'internal', message: 'internal error' });
    }
    return reply.code(status).send({ error: err.code ? err.code.toLowerCase() : 'bad_request', message: err.message });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({ error: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}; see GET /openapi.json` }),
  );
}
