import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ErrorCode } from '../../src/errors.js';
import { ownWebApp } from '../../src/services/access/web-access.js';
import type { Berth } from '../../src/services/core/context.js';
import { effectiveConfig } from '../../src/values/config-keys.js';
import { sameHostPath, userAppHostLabel, userAppOrigin } from '../../src/values/web-paths.js';
import type { WebMetrics } from '../metrics.js';
import type { AppOrigins } from './app-origin.js';
import type { BrowserSession } from './browser-sessions.js';
import { notFoundPage, type Page, securityHeaders, userAppEntryPage } from './pages.js';

export interface UserAppEntryDeps {
  ctx: Berth;
  metrics: WebMetrics;
  /** berth's public URL and origin (known once the server started). */
  publicUrl(): string;
  origin(): string;
  /** The berth cookie's session of a request on berth's origin, or null. */
  authenticate(req: IncomingMessage): Promise<BrowserSession | null>;
  appOrigins(): AppOrigins | null;
  source(req: IncomingMessage): string;
  note(source: string, reason: string, message: string, extra?: Record<string, unknown>): void;
}

type Params = { Params: { login: string; name: string } };

const pageReply = (reply: FastifyReply, page: Page) => reply.code(page.status).headers(page.headers).send(page.body);

/**
 * The way into a user's deployed app on its own origin, on berth's origin: `/apps/LOGIN/NAME`
 * (two segments; a VM port's `/apps/LOGIN/VM/PORT` has three). As for a VM's port, the page needs
 * no cookie; its script's same-origin post does, and gets a ticket bound to that one app host.
 * Only apps with an HTTP port, and only with web.apps-domain (never at paths of berth's origin).
 */
export function userAppEntryRoutes(app: FastifyInstance, deps: UserAppEntryDeps): void {
  const appOf = async (params: Params['Params']) => {
    const state = await deps.ctx.store.snapshot();
    const domain = effectiveConfig(state.config)['web.apps-domain'];
    const found = (state.apps ?? []).find((a) => a.user === params.login && a.name === params.name);
    if (!domain || !found?.port) return null;
    try {
      const host = userAppHostLabel(found.user, found.name);
      return { state, app: found, host, origin: userAppOrigin(deps.publicUrl(), domain, found.user, found.name) };
    } catch {
      return null;
    }
  };

  app.get<Params & { Querystring: { to?: string } }>('/apps/:login/:name', async (req, reply) => {
    const found = await appOf(req.params);
    if (!found) return pageReply(reply, notFoundPage());
    return pageReply(reply, userAppEntryPage(found.app.user, found.app.name, found.origin, sameHostPath(req.query.to ?? '/')));
  });

  app.post<Params & { Body: { to?: unknown } }>('/apps/:login/:name', async (req, reply) => {
    const json = (status: number, body: { code: ErrorCode; message: string } | { location: string }) =>
      reply.code(status).headers(securityHeaders()).send(body);
    const source = deps.source(req.raw);
    if (req.headers.origin !== deps.origin()) {
      deps.metrics.refusals.inc({ reason: 'origin' });
      deps.note(source, 'origin', 'web app entry refused: wrong Origin');
      return json(403, { code: 'WEB_ORIGIN', message: `Open berth's links at ${deps.origin()}.` });
    }
    const found = await appOf(req.params);
    if (!found) return json(404, { code: 'WEB_NOT_FOUND', message: 'There is no web app at this address.' });
    const browser = await deps.authenticate(req.raw);
    const own = browser ? ownWebApp(found.state, browser.who, found.app.user, found.app.name) : null;
    const origins = deps.appOrigins();
    if (!browser || !own?.port || !origins) {
      deps.metrics.refusals.inc({ reason: browser ? 'not-owner' : 'no-session' });
      if (browser) deps.note(source, 'not-owner', 'web app entry refused: not the owner', { user: browser.who.login });
      return json(401, {
        code: 'WEB_NOT_OWNER',
        message: "This browser is not signed in as this app's owner. Open the app with a new link from berth.",
      });
    }
    const location = origins.enterUrl(
      browser.who,
      { host: found.host, login: own.user, vm: '', port: own.port, app: own.name, appId: own.id },
      found.origin,
      req.body?.to,
    );
    return json(200, { location });
  });
}
