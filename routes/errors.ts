import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { z } from 'zod';

/** The one error shape of every route (docs/api.md, "Errors"). */
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

// Fastify's own 4xx (body parser, router) get stable codes instead of its internal FST_ERR_* names.
const CODE_BY_STATUS: Record<number, string> = {
  400: 'bad_request',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'payload_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
};

function fastifyClientError(err: FastifyError, req: FastifyRequest): ErrorBody {
  const status = err.statusCode ?? 400;
  const error = CODE_BY_STATUS[status] ?? (err.code ? err.code.toLowerCase().replace(/^fst_err_/, '') : 'bad_request');
  if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    const sent = req.headers['content-type'] ?? 'none';
    return { error, message: `send the body as JSON with content-type: application/json (got ${sent.slice(0, 100)})` };
  }
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return { error, message: `the body exceeds ${req.routeOptions.bodyLimit ?? 'the'} bytes` };
  if (err.code === 'FST_ERR_BAD_URL') return { error, message: 'the URL is not validly percent-encoded' };
  if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') return { error, message: 'a path segment is longer than 100 characters' };
  return { error, message: err.message };
}

/** Errors fastify's router raises before any route or hook runs (bad percent-encoding, an over-long path parameter). */
export function frameworkErrors(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  void reply.code(err.statusCode ?? 400).send(fastifyClientError(err, req));
}

/** 4xx messages tell the caller what to fix; 5xx messages are masked (details go to the log). */
export function registerErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof HttpError) return reply.code(err.statusCode).send({ error: err.code, message: err.message });
    if (hasZodFastifySchemaValidationErrors(err)) {
      const where = err.validationContext ?? 'request';
      const issues = err.validation.map((v) => {
        const field =
          v.instancePath.replace(/^\//, '').replace(/\//g, '.') ||
          (v.params as { issue?: { path?: unknown[] } }).issue?.path?.join('.') ||
          '';
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
    return reply.code(status).send(fastifyClientError(err, req));
  });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({ error: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}; see GET /openapi.json` }),
  );
}
