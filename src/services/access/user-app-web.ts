import ipaddr from 'ipaddr.js';
import { APP_UID } from '../../docker/app-spec.js';
import { appLimits, appRef, findApp, parseAppRef } from '../../domain/apps.js';
import { findPlan } from '../../domain/lookups.js';
import { BerthError } from '../../errors.js';
import type { App, State } from '../../state/schema.js';
import { effectiveConfig } from '../../values/config-keys.js';
import { printable } from '../../values/names.js';
import { LANDING_PATH, userAppEntryPath, userAppHostLabel, userAppOrigin, webPublicUrl } from '../../values/web-paths.js';
import { callDaemon } from '../control/daemon-control.js';
import { type AppWebLink, ROUTES } from '../control/daemon-routes.js';
import type { Berth } from '../core/context.js';
import { withDeadline } from '../engine/deadline.js';
import { NODE_DEADLINE_MS } from '../engine/engines.js';
import { execConnection, type VmConnection } from './vm-dial.js';
import { ownWebApp, ownWebVm } from './web-access.js';
import { type TicketBook, targetPath, type WebIdentity, type WebTicket } from './web-links.js';

/**
 * Users' apps (deployed bots and services, not VM ports) in the browser: each app with an HTTP
 * port is the host `app--NAME--LOGIN.APPS_DOMAIN` (web.apps-domain), for its owner (the same
 * one-time exchange and app cookie as a VM port's), or for anyone where the owner's plan allows
 * public apps. Never on berth's own origin (path apps): an app is always an origin of its own.
 */

export type { AppWebLink };

/** Whether anyone may open the app without a cookie: its owner is allowed and the owner's plan says `--app-public`. */
export function appIsPublic(state: State, app: App): boolean {
  const owner = state.users.find((u) => u.id === app.userId && u.login === app.user);
  if (owner?.status !== 'allowed') return false;
  try {
    return appLimits(findPlan(state, owner.plan)).public;
  } catch {
    return false;
  }
}

/** The owner as a web identity (whose limits a public app's anonymous visitors count against), or null. */
export function appOwnerIdentity(state: State, app: App): WebIdentity | null {
  const owner = state.users.find((u) => u.id === app.userId && u.login === app.user);
  return owner ? { userId: owner.id, login: owner.login, role: owner.role } : null;
}

/** Why a browser's hold on an app ends (the app removed, or no longer served), or null. `id`: that app, not a later one of its name. */
export function userAppGone(state: State, login: string, name: string, id?: string): string | null {
  const app = (state.apps ?? []).find((a) => a.user === login && a.name === name);
  if (!app || (id !== undefined && app.id !== id)) return 'the app was removed';
  if (!app.port) return 'the app has no HTTP port any more';
  return null;
}

/** How a running app's port is reached from here: its address, or (another Swarm node) a relay in its container. */
export type UserAppRoute = { via: 'address'; address: string } | { via: 'other-node'; node: string };

/*
 * The relay run in an app's container when it is on another Swarm node (no route reaches that
 * node's bridge from here): python3, else node, else nc, copying stdin to 127.0.0.1:PORT and the
 * answer to stdout, shutting its half of the connection when stdin ends. As the app's user.
 */
const RELAY_PY = [
  'import os, socket, sys, threading',
  's = socket.create_connection(("127.0.0.1", int(sys.argv[1])))',
  'def up():',
  '    try:',
  '        while True:',
  '            d = os.read(0, 65536)',
  '            if not d:',
  '                break',
  '            s.sendall(d)',
  '        s.shutdown(socket.SHUT_WR)',
  '    except OSError:',
  '        pass',
  'threading.Thread(target=up, daemon=True).start()',
  'out = sys.stdout.buffer',
  'while True:',
  '    d = s.recv(65536)',
  '    if not d:',
  '        break',
  '    out.write(d)',
  '    out.flush()',
].join('\n');
const RELAY_JS =
  'const s=require("net").connect(+process.argv[1],"127.0.0.1");process.stdin.pipe(s);s.pipe(process.stdout);s.on("error",()=>process.exit(1))';
const RELAY_SH =
  'if command -v python3 >/dev/null 2>&1; then exec python3 -c "$1" "$3"; elif command -v node >/dev/null 2>&1; then exec node -e "$2" "$3"; else exec nc 127.0.0.1 "$3"; fi';

/** A connection to `port` of an app on another Swarm node, relayed by a process in its container over that node's engine. */
export async function dialApp(ctx: Berth, app: App, port: number): Promise<VmConnection> {
  if (!app.containerId)
    throw new BerthError('APP_NOT_RUNNING', `The app ${appRef(app)} is not running.`, `Start it: berth app start ${appRef(app)}`);
  const engine = await (await ctx.backend()).apps.engine(app.node);
  const handle = await withDeadline(NODE_DEADLINE_MS * 2, `open a connection to port ${port} of app ${appRef(app)}`, () =>
    engine.exec(app.containerId as string, {
      cmd: ['/bin/sh', '-c', RELAY_SH, 'berth-relay', RELAY_PY, RELAY_JS, String(port)],
      user: APP_UID,
      workdir: '/',
      env: [],
      tty: false,
      stdin: true,
    }),
  );
  return execConnection(handle.stream, { framed: false, halfClose: true });
}

/**
 * The address of a running app with an HTTP port on berth's network, as the engine holding it
 * reports it for the app's own container (never taken from the request), or null when it does
 * not run. An app on another Swarm node: no route reaches that node's bridge from here.
 */
export async function userAppRoute(ctx: Berth, state: State, app: App): Promise<UserAppRoute | null> {
  if (!app.port || app.status !== 'running' || !app.containerId) return null;
  const backend = await ctx.backend();
  if (!(await backend.isHere({ node: app.node }))) return { via: 'other-node', node: app.node ?? '' };
  const engine = await backend.apps.engine(app.node);
  const address = await engine.containerAddress(app.containerId, effectiveConfig(state.config)['docker.network']);
  if (!address || !ipaddr.isValid(address)) return null;
  // Never the host's own loopback or an unspecified address, whatever the engine says.
  const range = ipaddr.parse(address).range();
  return range === 'loopback' || range === 'unspecified' ? null : { via: 'address', address };
}

const appsDomainNeeded = (ref: string) =>
  new BerthError(
    'WEB_APP_NEEDS_DOMAIN',
    `The app ${ref} can only be opened on an address of its own, and this host has no web.apps-domain (apps are never served at paths of berth's own address).`,
    'The operator can set one (wildcard DNS and certificate): berth config set web.apps-domain apps.example.com',
  );

/**
 * Where a spent link's ticket lands on berth's origin, for its user (who must still own what it
 * names), or null when they do not. A VM's terminal or port as before; a user's app: the route
 * into its own origin.
 */
export function ticketLanding(state: State, ticket: WebTicket): { location: string; what: string } | null {
  const cfg = effectiveConfig(state.config);
  const { who, target } = ticket;
  if (target.kind === 'user-app') {
    const app = ownWebApp(state, who, who.login, target.app);
    if (!app) return null;
    if (!cfg['web.apps-domain']) throw appsDomainNeeded(appRef(app));
    return { location: userAppEntryPath(app.user, app.name), what: `app:${appRef(app)}` };
  }
  // A replay or download ticket never lands here: the web server opens it itself (its one
  // recording or snapshot, never a browser session).
  if (target.kind === 'recording' || target.kind === 'backup') return null;
  const vm = ownWebVm(state, who, who.login, ticket.vm);
  if (!vm) return null;
  const location = targetPath(who.login, vm.name, target, { appsDomain: cfg['web.apps-domain'], pathApps: cfg['web.path-apps'] });
  return { location, what: `${vm.user}/${vm.name}` };
}

/**
 * A one-time link into `login`'s app `name` for its owner (who must be allowed): the link logs the
 * browser in on berth's address, then into the app's own host. The chat's /app button and
 * `berth app url` (through the daemon, which keeps the tickets) both call this.
 */
export async function appWebLink(ctx: Berth, book: TicketBook, login: string, name: string): Promise<AppWebLink> {
  const state = await ctx.store.snapshot();
  const cfg = effectiveConfig(state.config);
  if (!cfg['web.enabled']) {
    throw new BerthError(
      'WEB_DISABLED',
      'The web terminal and apps are turned off on this host.',
      'The operator can turn them on: berth config set web.enabled on',
    );
  }
  const app = findApp(state, login, name);
  const ref = appRef(app);
  const user = state.users.find((u) => u.id === app.userId && u.login === app.user);
  if (user?.status !== 'allowed') {
    throw new BerthError(
      'USER_NOT_ALLOWED',
      `${printable(login)} is not an allowed user: web links are only for allowed users.`,
      `Allow them first: berth user allow ${printable(login)}`,
    );
  }
  if (!app.port) {
    throw new BerthError(
      'WEB_APP_NO_PORT',
      `The app ${ref} has no HTTP port, so it has no web address.`,
      `Deploy it again with the port its server listens on (berth sets PORT): berth app deploy ${ref} --replace … --port 8000`,
    );
  }
  if (!cfg['web.apps-domain']) throw appsDomainNeeded(ref);
  if (app.desired !== 'running') {
    throw new BerthError('APP_NOT_RUNNING', `The app ${ref} is ${app.status}.`, `Start it first: berth app start ${ref}`);
  }
  userAppHostLabel(app.user, app.name);
  const publicUrl = webPublicUrl(cfg);
  const { token, expiresAt } = book.mint(
    { userId: user.id, login: user.login, role: user.role },
    '',
    { kind: 'user-app', app: app.name },
    cfg['web.ticket-rate'],
  );
  return {
    // The ticket rides in the fragment (see mintWebLink): never sent, never logged.
    url: `${publicUrl}${LANDING_PATH}#${token}`,
    expiresAt: new Date(expiresAt).toISOString(),
    app: ref,
    path: userAppEntryPath(app.user, app.name),
    address: `${userAppOrigin(publicUrl, cfg['web.apps-domain'], app.user, app.name)}/`,
    public: appIsPublic(state, app),
  };
}

/** The operator's link (`berth app url USER/NAME`), minted by the daemon. */
export async function operatorAppWebLink(ctx: Berth, book: TicketBook, ref: string): Promise<AppWebLink> {
  const { user, name } = parseAppRef(ref);
  if (!user) throw new BerthError('INVALID_APP_NAME', `Say whose app "${printable(name)}" is.`, 'Write it as USER/NAME, e.g. alice/mybot.');
  return appWebLink(ctx, book, user, name);
}

/** `berth app url`: the running daemon mints the link (tickets live in its memory). */
export async function requestAppWebLink(home: string, ref: string): Promise<AppWebLink> {
  const { user, name } = parseAppRef(ref);
  if (!user) throw new BerthError('INVALID_APP_NAME', `Say whose app "${printable(name)}" is.`, 'Write it as USER/NAME, e.g. alice/mybot.');
  return callDaemon(
    home,
    ROUTES.appWebLink,
    { body: { app: `${user}/${name}` } },
    { timeoutMs: 5000, needs: 'it serves the web apps and keeps their links' },
  );
}
