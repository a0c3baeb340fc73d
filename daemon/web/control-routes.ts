import type { FastifyInstance } from 'fastify';
import { BerthError } from '../../src/errors.js';
import type { WebLink } from '../../src/services/web-links.js';

/**
 * The control API's route for `berth vm web-terminal` and `berth vm url`: the daemon mints the
 * link, since its tickets live in the daemon's memory only. `POST /web/links?vm=USER[/VM][&port=N[&strip=1]]`.
 */
export function webLinkRoutes(mint: (ref: string, port?: string, strip?: boolean) => Promise<WebLink>) {
  return (app: FastifyInstance): void => {
    app.post<{ Querystring: { vm?: string; port?: string; strip?: string } }>('/web/links', async (req, reply) => {
      try {
        return await mint(
          String(req.query.vm ?? ''),
          req.query.port === undefined ? undefined : String(req.query.port),
          req.query.strip === '1',
        );
      } catch (err) {
        if (!(err instanceof BerthError)) throw err;
        return reply.code(err.usage ? 400 : 409).send(err.toJSON());
      }
    });
  };
}
