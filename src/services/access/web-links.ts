import { createHash, randomBytes } from 'node:crypto';
import { findVm, parseVmRef, vmRef } from '../../domain/lookups.js';
import { BerthError } from '../../errors.js';
import type { User, Vm } from '../../state/schema.js';
import { effectiveConfig } from '../../values/config-keys.js';
import {
  appEntryPath,
  appOrigin,
  appPath,
  checkPort,
  LANDING_PATH,
  type TicketTarget,
  terminalPath,
  type WebTarget,
  webPublicUrl,
} from '../../values/web-paths.js';
import { callDaemon } from '../control/daemon-control.js';
import { ROUTES, type WebLink } from '../control/daemon-routes.js';
import type { Berth } from '../core/context.js';

export type { WebLink };

/** How long a one-time link is good for: 60 s; BERTH_WEB_TICKET_TTL_MS sets it (tests). */
export function ticketTtlMs(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.BERTH_WEB_TICKET_TTL_MS);
  return Number.isInteger(n) && n > 0 ? n : 60_000;
}
/** The most unspent tickets the daemon holds (each user is held to web.ticket-rate a minute besides). */
const MAX_TICKETS = 10_000;
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

/** Who a ticket (and the browser session it becomes) belongs to. */
export interface WebIdentity {
  userId: string;
  login: string;
  role: User['role'];
}

export interface WebTicket {
  who: WebIdentity;
  /** The VM's name (of `who.login`); '' for a user's app (`target` names it). */
  vm: string;
  target: TicketTarget;
  expiresAt: number;
}

/** A link as the bot and `berth vm web-terminal|url --json` give it. */

const hash = (token: string) => createHash('sha256').update(token).digest('hex');

/**
 * One-time tickets, in the daemon's memory only: 32 random bytes, kept as their SHA-256 (the
 * token itself is never stored or logged), single use, valid TICKET_TTL_MS, bound to one user
 * and one VM. Bounded: web.ticket-rate per user and minute, MAX_TICKETS in all.
 */
export class TicketBook {
  private readonly tickets = new Map<string, WebTicket>();
  /** When each user was last given tickets, within the last minute. */
  private readonly issued = new Map<string, number[]>();
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(options: { ttlMs?: number; now?: () => number } = {}) {
    this.ttlMs = options.ttlMs ?? ticketTtlMs();
    this.now = options.now ?? Date.now;
  }

  mint(who: WebIdentity, vm: string, target: TicketTarget, perMinute: number): { token: string; expiresAt: number } {
    const now = this.now();
    this.sweep(now);
    const recent = (this.issued.get(who.userId) ?? []).filter((t) => now - t < 60_000);
    if (recent.length >= perMinute) {
      throw new BerthError(
        'WEB_LINK_RATE',
        `${who.login} was given ${recent.length} web links in the last minute, the most allowed (web.ticket-rate).`,
        'Wait a minute and ask again; an unused link is good for 60 s.',
      );
    }
    if (this.tickets.size >= MAX_TICKETS) {
      throw new BerthError('WEB_LINKS_FULL', 'Too many web links are waiting to be opened.', 'Try again in a minute.');
    }
    recent.push(now);
    this.issued.set(who.userId, recent);
    const token = randomBytes(32).toString('base64url');
    const expiresAt = now + this.ttlMs;
    this.tickets.set(hash(token), { who, vm, target, expiresAt });
    return { token, expiresAt };
  }

  /** The ticket, unspent (a link the browser must confirm first), or null: unknown, malformed, spent or expired. */
  peek(token: string): WebTicket | null {
    if (!TOKEN.test(token)) return null;
    const ticket = this.tickets.get(hash(token));
    return ticket && ticket.expiresAt > this.now() ? ticket : null;
  }

  /** The ticket, spent (it is gone either way), or null: unknown, malformed, spent or expired. */
  spend(token: string): WebTicket | null {
    if (!TOKEN.test(token)) return null;
    const key = hash(token);
    const ticket = this.tickets.get(key);
    if (!ticket) return null;
    this.tickets.delete(key);
    return ticket.expiresAt > this.now() ? ticket : null;
  }

  get size(): number {
    return this.tickets.size;
  }

  private sweep(now: number): void {
    for (const [key, t] of this.tickets) if (t.expiresAt <= now) this.tickets.delete(key);
    for (const [user, times] of this.issued) if (times.every((t) => now - t >= 60_000)) this.issued.delete(user);
  }
}

/** How the web server serves apps: on an origin of their own (`web.apps-domain`), at paths of berth's origin (`web.path-apps`). */
export interface AppServing {
  appsDomain: string;
  pathApps: boolean;
}

/**
 * The path of berth's origin a target lands on: the terminal; for an app, the route that starts
 * the exchange to its own origin (with `web.apps-domain`), else its path (with `web.path-apps`).
 */
export function targetPath(login: string, vm: string, target: WebTarget, serving: AppServing): string {
  if (target.kind === 'terminal') return terminalPath(login, vm);
  if (serving.appsDomain) return appEntryPath(login, vm, target.port);
  if (serving.pathApps) return appPath(login, vm, target.port, target.strip === true);
  throw appsOff();
}

const appsOff = () =>
  new BerthError(
    'WEB_APPS_OFF',
    "This host serves no web apps: it has no apps domain, and apps at paths of berth's origin are off.",
    "The operator can give each app an origin of its own: berth config set web.apps-domain apps.example.com (wildcard DNS and certificate) — or, accepting that apps then run on berth's origin, berth config set web.path-apps on",
  );

const servingOf = (cfg: ReturnType<typeof effectiveConfig>): AppServing => ({
  appsDomain: cfg['web.apps-domain'],
  pathApps: cfg['web.path-apps'],
});

/** The address of a VM port's app (its own origin, else its path on berth's), or null when apps are not served. */
export function appAddress(cfg: ReturnType<typeof effectiveConfig>, login: string, vm: string, port: number): string | null {
  const publicUrl = webPublicUrl(cfg);
  if (cfg['web.apps-domain']) return `${appOrigin(publicUrl, cfg['web.apps-domain'], login, vm, port)}/`;
  if (cfg['web.path-apps']) return `${publicUrl}${appPath(login, vm, port)}`;
  return null;
}

/**
 * A one-time link to `vm`'s terminal or one of its ports, for its owner (who must be allowed).
 * The caller found the VM with its own front-end's lookup (and so its hints).
 */
export async function mintWebLink(ctx: Berth, book: TicketBook, vm: Vm, target: WebTarget): Promise<WebLink> {
  const state = await ctx.store.snapshot();
  const cfg = effectiveConfig(state.config);
  if (!cfg['web.enabled']) {
    throw new BerthError(
      'WEB_DISABLED',
      'The web terminal is turned off on this host.',
      'The operator can turn it on: berth config set web.enabled on',
    );
  }
  const user = state.users.find((u) => u.login === vm.user);
  if (user?.status !== 'allowed') {
    throw new BerthError(
      'USER_NOT_ALLOWED',
      `${vm.user} is not an allowed user: web links are only for allowed users.`,
      `Allow them first: berth user allow ${vm.user}`,
    );
  }
  const path = targetPath(user.login, vm.name, target, servingOf(cfg));
  const app = target.kind === 'app' && cfg['web.apps-domain'] ? appAddress(cfg, user.login, vm.name, target.port) : null;
  const { token, expiresAt } = book.mint({ userId: user.id, login: user.login, role: user.role }, vm.name, target, cfg['web.ticket-rate']);
  return {
    // The ticket rides in the fragment: browsers never send it (no server or proxy log, no
    // Referer has it) and a link preview cannot spend it; the landing page's script posts it once.
    url: `${webPublicUrl(cfg)}${LANDING_PATH}#${token}`,
    expiresAt: new Date(expiresAt).toISOString(),
    vm: vmRef(vm),
    path,
    ...(app ? { app } : {}),
  };
}

/** The operator's link (`berth vm web-terminal USER[/VM]`, `berth vm url USER[/VM] PORT`), minted by the daemon. */
export async function operatorWebLink(ctx: Berth, book: TicketBook, ref: string, port?: string, strip = false): Promise<WebLink> {
  const vm = findVm(await ctx.store.snapshot(), ref);
  return mintWebLink(ctx, book, vm, port === undefined ? { kind: 'terminal' } : { kind: 'app', port: checkPort(port), strip });
}

/** `berth vm web-terminal` / `berth vm url`: the running daemon mints the link (tickets live in its memory). */
export async function requestWebLink(home: string, ref: string, port?: string, strip = false): Promise<WebLink> {
  parseVmRef(ref);
  const ask = { vm: ref, ...(port === undefined ? {} : { port: String(checkPort(port)) }), ...(strip ? { strip } : {}) };
  return callDaemon(home, ROUTES.webLink, { body: ask }, { timeoutMs: 5000, needs: 'it serves the web terminal and keeps its links' });
}
