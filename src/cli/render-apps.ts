import { terminalSafe } from '../values/names.js';
import type { AppView } from '../views/app-view.js';
import { table } from './table.js';

/** A span for people, short: `45s`, `12m`, `5h`, `3d`. */
export function shortSpan(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 48 * 3600) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** What a listing says of an app's time in its status: `up 5h`, `stopped 2d`, `building 30s`. */
function since(app: AppView, now = Date.now()): string {
  const age = (iso: string | null) => (iso ? shortSpan(now - Date.parse(iso)) : '?');
  switch (app.status) {
    case 'running':
      return `up ${age(app.startedAt)}`;
    case 'restarting':
      return app.restartAt ? `again in ${shortSpan(Date.parse(app.restartAt) - now)}` : 'soon';
    case 'stopped':
    case 'crashed':
      return `${app.status} ${age(app.stoppedAt ?? app.deployedAt)}`;
    case 'failed':
      return `failed ${age(app.build?.at ?? app.deployedAt)}`;
    default:
      return `${app.status} ${age(app.deployedAt)}`;
  }
}

/** The source in a few words: `git github.com/alice/bot.git#main`, `vm main:~/bot`, `image python:3.12`. */
function shortSource(app: AppView): string {
  const s = app.source;
  switch (s.kind) {
    case 'git':
      return `git ${(s.url ?? '').replace(/^https?:\/\//, '')}#${s.branch ?? ''}`;
    case 'vm':
      return `vm ${s.vm ?? ''}:${(s.path ?? '').replace(new RegExp(`^/home/${app.user}(?=/|$)`), '~')}`;
    case 'image':
      return `image ${s.image ?? ''}`;
    case 'upload':
      return 'uploaded image';
    default:
      return s.kind;
  }
}

export function appTable(apps: AppView[], user?: string): string {
  if (apps.length === 0)
    return user
      ? `${user} has no apps. Deploy one with: berth app deploy ${user}/NAME ./folder`
      : 'No apps. Deploy one with: berth app deploy USER/NAME ./folder';
  return table(
    ['APP', 'STATUS', 'SOURCE', 'RESTARTS', 'SINCE', 'CPU', 'RAM'],
    apps.map((a) => [a.ref, a.status, shortSource(a), a.restarts, since(a), a.cpu, a.ram]),
  );
}

function fields(rows: Array<[string, string | number]>): string {
  const width = Math.max(...rows.map(([k]) => k.length)) + 1;
  return rows.map(([k, v]) => `${`${k}:`.padEnd(width)} ${terminalSafe(String(v))}`).join('\n');
}

export function appDetails(app: AppView): string {
  const build = app.build;
  const head = fields([
    ['App', app.ref],
    ['Status', `${app.status} (desired: ${app.desired})`],
    ['Plan', app.plan],
    ['Source', app.source.description],
    ...(app.source.runtime ? [['Runtime', app.source.runtime] as [string, string]] : []),
    ...(app.source.entrypoint ? [['Entrypoint', app.source.entrypoint] as [string, string]] : []),
    ['Image', app.image ?? '- (not built yet)'],
    ['Port', app.port ?? '-'],
    ['Resources', `${app.cpu} CPU, ${app.ram} RAM, ${app.pids} processes`],
    ['Lifetime', app.lifetime === '0' ? 'no limit' : app.lifetime],
    ['Container', app.containerId ?? '-'],
    ...(app.node ? [['Node', app.node] as [string, string]] : []),
    ['Created', app.createdAt],
    ['Deployed', app.deployedAt],
    ['Last started', app.startedAt ?? '-'],
    ['Last stopped', app.stoppedAt ?? '-'],
    ['Stopped because', app.stopReason ?? '-'],
    ['Stops at', app.stopsAt ?? '-'],
    ['Restarts', app.restartAt ? `${app.restarts} (next at ${app.restartAt})` : app.restarts],
    ['Crashes (1 h)', app.crashes.length],
    ['Last exit code', app.lastExitCode ?? '-'],
    ['OOM-killed', app.oomKilledAt ?? 'never'],
    ['Last build', build ? `${build.outcome} in ${build.seconds} s, at ${build.at}` : '-'],
    ['Variables', Object.keys(app.env).join(', ') || '-'],
    [
      'Secrets',
      app.secrets.length === 0
        ? '-'
        : app.secrets.map((s) => (s.env === s.name.toUpperCase().replace(/-/g, '_') ? s.name : `${s.env}=${s.name}`)).join(', '),
    ],
  ]);
  const env = Object.entries(app.env).map(([k, v]) => `  ${terminalSafe(k)}=${terminalSafe(v)}`);
  const tail =
    build && build.outcome !== 'ok' && build.tail
      ? build.tail
          .trimEnd()
          .split('\n')
          .map((l) => `  ${terminalSafe(l)}`)
      : [];
  return [head, ...(env.length ? ['', 'Variables:', ...env] : []), ...(tail.length ? ['', 'Last lines of the build:', ...tail] : [])].join(
    '\n',
  );
}
