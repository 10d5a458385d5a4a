import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

const UI_OPTIONS = { routePrefix: '/docs', uiConfig: { docExpansion: 'list' as const, deepLinking: true } };
/** The outer reply sets its own framing. */
const FRAMING_HEADERS = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive']);

/** The UI (~2 MB of RSS) loads on the first /docs request into an inner instance: a watchdog nobody browses never pays for it. */
export async function docsRoutes(app: FastifyInstance): Promise<void> {
  let ui: Promise<FastifyInstance> | null = null;
  const forward = async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    ui ??= buildUi(app).catch((err: unknown) => {
      ui = null;
      throw err;
    });
    const res = await (await ui).inject({ method: req.method as 'GET' | 'HEAD', url: req.url, headers: req.headers });
    // the API's own 404 shape, not the inner instance's
    if (res.statusCode === 404) {
      reply.callNotFound();
      return reply;
    }
    for (const [name, value] of Object.entries(res.headers))
      if (value !== undefined && !FRAMING_HEADERS.has(name)) reply.header(name, value);
    return reply.code(res.statusCode).send(res.rawPayload);
  };
  app.get('/docs', { schema: { hide: true } }, forward);
  app.get('/docs/*', { schema: { hide: true } }, forward);
  app.addHook('onClose', async () => {
    if (ui)
      await ui.then(
        (i) => i.close(),
        () => undefined,
      );
  });
}

async function buildUi(app: FastifyInstance): Promise<FastifyInstance> {
  const [{ default: Fastify }, { default: swagger }, { default: swaggerUi }] = await Promise.all([
    import('fastify'),
    import('@fastify/swagger'),
    import('@fastify/swagger-ui'),
  ]);
  const ui = Fastify();
  // the outer app's generated document, served as it is (its routes are final once the app is ready)
  await ui.register(swagger, { mode: 'static', specification: { document: app.swagger() as never } });
  await ui.register(swaggerUi, UI_OPTIONS);
  await ui.ready();
  return ui;
}
