import type { RecordingView } from '../services/access/recordings.js';
import type { SshSessionView } from '../services/control/daemon-routes.js';
import type { ConfigEntry } from '../services/setup/config.js';
import type { HomeView } from '../services/vm/homes.js';
import type { ImageView } from '../services/vm/images.js';
import type { VmStatsView } from '../services/vm/vm-exec.js';
import { terminalSafe } from '../values/names.js';
import { formatDiskSize, formatSize, formatUsage } from '../values/sizes.js';
import { orDefault, type PlanView } from '../views/plan-view.js';
import type { KeyView, UserAppView, UserView } from '../views/user-view.js';
import type { VmView } from '../views/vm-view.js';
import { table } from './table.js';

export function planTable(plans: PlanView[]): string {
  if (plans.length === 0) return 'No plans. Add one with: berth plan add NAME --cpu 2 --ram 4g';
  return table(
    ['NAME', 'CPU', 'RAM', 'DISK', 'GPU', 'PIDS', 'MAX VMS', 'SUDO', 'APPS', 'APP CPU', 'APP RAM', 'USERS', 'DESCRIPTION'],
    plans.map((p) => [
      p.name,
      orDefault(p.cpu),
      orDefault(p.ram),
      orDefault(p.disk),
      p.gpu,
      p.pids,
      p.maxVms,
      p.sudo ? 'yes' : 'no',
      p.apps.max,
      p.apps.cpu,
      p.apps.ram,
      p.users.length,
      p.description,
    ]),
  );
}

export function planDetails(plan: PlanView): string {
  return fields([
    ['Plan', plan.name],
    ['CPU', orDefault(plan.cpu)],
    ['RAM', orDefault(plan.ram)],
    ['GPU', plan.gpu],
    ['Processes', plan.pids],
    ['VMs per user', plan.maxVms],
    ['Sudo', plan.sudo ? 'yes' : 'no'],
    ['Max lifetime', plan.maxLifetime === '0' ? 'none' : plan.maxLifetime],
    ['Home quota', orDefault(plan.disk)],
    ['Rootfs limit', orDefault(plan.rootfs)],
    ['Apps per user', plan.apps.max],
    ...(plan.apps.max === 0
      ? []
      : ([
          ['App resources', `${plan.apps.cpu} CPU, ${plan.apps.ram} RAM, ${plan.apps.pids} processes`],
          ['App lifetime', plan.apps.lifetime === '0' ? 'none' : plan.apps.lifetime],
          ['App web ports', plan.apps.public ? 'public' : 'owner only'],
        ] as Array<[string, string]>)),
    ['Description', plan.description || '-'],
    ['Users', plan.users.join(', ') || '-'],
  ]);
}

export function userTable(users: UserView[]): string {
  if (users.length === 0) return 'No users. Allow one with: berth user allow LOGIN';
  return table(
    ['LOGIN', 'STATUS', 'ROLE', 'PLAN', 'TELEGRAM ID', 'DISCORD ID', 'KEYS', 'CREATED'],
    users.map((u) => [u.login, u.status, u.role, u.plan, u.telegramId ?? '-', u.discordId ?? '-', u.keys.length, u.createdAt.slice(0, 10)]),
  );
}

export function userDetails(user: UserView): string {
  const head = fields([
    ['User', user.login],
    ['Status', user.status],
    ['Role', user.role],
    ['Plan', user.plan],
    ['Telegram id', user.telegramId ?? '-'],
    ['Discord id', user.discordId ?? '-'],
    ['Created', user.createdAt],
  ]);
  return `${head}\n\n${keyTable(user.keys)}`;
}

/** A user's apps, for `berth user show`. */
export function userAppsTable(apps: UserAppView[]): string {
  if (apps.length === 0) return 'No apps.';
  return table(
    ['APP', 'STATUS', 'RESTARTS', 'STARTED'],
    apps.map((a) => [
      a.name,
      a.status === 'stopped' && a.stopReason ? `stopped (${a.stopReason})` : a.status,
      String(a.restarts),
      a.status === 'running' && a.startedAt ? a.startedAt.slice(0, 19).replace('T', ' ') : '-',
    ]),
  );
}

export function keyTable(keys: KeyView[]): string {
  if (keys.length === 0) return 'No SSH keys. Add one with: berth user key add LOGIN --file ~/.ssh/id_ed25519.pub';
  return table(
    ['FINGERPRINT', 'TYPE', 'BITS', 'COMMENT', 'ADDED'],
    keys.map((k) => [k.fingerprint, k.type, k.bits, k.comment || '-', k.addedAt.slice(0, 10)]),
  );
}

export function configTable(entries: ConfigEntry[]): string {
  return table(
    ['KEY', 'VALUE', 'SOURCE', 'DESCRIPTION'],
    entries.map((e) => [e.key, e.value || '-', e.source, e.description]),
  );
}

function fields(rows: Array<[string, string | number]>): string {
  const width = Math.max(...rows.map(([k]) => k.length)) + 1;
  return rows.map(([k, v]) => `${`${k}:`.padEnd(width)} ${terminalSafe(String(v))}`).join('\n');
}

export function vmTable(vms: VmView[]): string {
  if (vms.length === 0) return 'No VMs. Create one with: berth vm create LOGIN';
  // On Swarm: the node of each VM (its Swarm id, short; a VM made before swarm mode is the manager's).
  const nodes = vms.some((v) => v.node);
  return table(
    ['VM', 'STATE', 'DESIRED', 'PLAN', 'CPU', 'RAM', 'DISK', 'IMAGE', 'CREATED', ...(nodes ? ['NODE'] : [])],
    vms.map((v) => [
      v.ref,
      v.state,
      v.desired,
      v.plan,
      v.cpu,
      v.ram,
      diskLine(v.diskUsedBytes, v.diskBytes ?? 0),
      v.image,
      v.createdAt.slice(0, 16).replace('T', ' '),
      ...(nodes ? [v.node ? v.node.slice(0, 12) : 'manager'] : []),
    ]),
  );
}

export function vmDetails(vm: VmView): string {
  return fields([
    ['VM', vm.ref],
    ['State', `${vm.state} (desired: ${vm.desired})`],
    ...(vm.node ? [['Node', vm.node] as [string, string]] : []),
    ['Plan', vm.plan],
    ['Image', vm.image],
    ['Container', vm.containerId ?? '-'],
    ['Resources', `${vm.cpu} CPU, ${vm.ram} RAM, ${vm.pids} processes, ${vm.gpu} GPU${vm.sudo ? ', sudo' : ''}`],
    ['Home', `${vm.home}: ${diskLine(vm.diskUsedBytes, vm.diskBytes ?? 0)}`],
    [
      'Outside home',
      vm.rootfsBytes
        ? diskLine(vm.rootfsUsedBytes, vm.rootfsBytes)
        : `no limit${vm.rootfsUsedBytes === null ? '' : ` (${formatUsage(vm.rootfsUsedBytes)} used)`}`,
    ],
    ['Created', vm.createdAt],
    ['Last started', vm.lastStartedAt ?? '-'],
    ['Last stopped', vm.lastStoppedAt ?? '-'],
    ['Last exit code', vm.lastExitCode ?? '-'],
    ['OOM-killed', vm.oomKilledAt ?? 'never'],
    ['Stopped because', vm.stopReason ?? '-'],
    ['Next stop', vm.nextStop ? `${vm.nextStop.at} (${vm.nextStop.reason})` : 'none planned'],
    ...(vm.agents === undefined
      ? []
      : ([
          [
            'Agent',
            vm.agents.length === 0
              ? 'none in its image'
              : `${vm.agents.join(', ')}${vm.agentRunning === null ? ' (run: no daemon to ask)' : vm.agentRunning ? ', a run in progress' : ', idle'}`,
          ],
        ] as Array<[string, string]>)),
  ]);
}

const mb = (bytes: number) => (bytes / 1024 ** 2).toFixed(1);

export function statsTable(stats: VmStatsView[]): string {
  if (stats.length === 0) return 'No running VMs.';
  return table(
    ['VM', 'CPU %', 'MEM USED MB', 'MEM LIMIT MB', 'PIDS', 'NET RX MB', 'NET TX MB'],
    stats.map((s) => [
      s.ref,
      s.cpuPercent.toFixed(1),
      mb(s.memoryUsedBytes),
      mb(s.memoryLimitBytes),
      s.pids,
      mb(s.netRxBytes),
      mb(s.netTxBytes),
    ]),
  );
}

export function imageTable(images: ImageView[]): string {
  if (images.length === 0) return 'No berth images. Build one with: berth image build';
  const age = (iso: string) => {
    const hours = (Date.now() - Date.parse(iso)) / 3.6e6;
    return hours < 1 ? `${Math.round(hours * 60)} min` : hours < 48 ? `${Math.round(hours)} h` : `${Math.round(hours / 24)} days`;
  };
  return table(
    ['IMAGE', 'TEMPLATE', 'ID', 'SIZE MB', 'AGE'],
    images.map((i) => [i.tags.join(', ') || '<untagged>', i.template, i.id, mb(i.sizeBytes), age(i.createdAt)]),
  );
}

export function homeTable(homes: HomeView[]): string {
  if (homes.length === 0) return 'No homes.';
  return table(
    ['HOME', 'OWNER', 'VM', 'MOUNTED BY', 'QUOTA', 'USED', 'VOLUME', 'CREATED'],
    homes.map((h) => [
      h.id,
      h.owner ?? `(removed: ${h.login})`,
      h.vm,
      h.mountedBy ?? 'kept',
      h.diskBytes ? formatDiskSize(h.diskBytes) : 'none',
      h.usedBytes === null ? '-' : formatUsage(h.usedBytes),
      h.volume,
      h.createdAt.slice(0, 10),
    ]),
  );
}

/** `1.2g of 10g`, or `no quota`. */
export const diskLine = (used: number | null, limit: number) =>
  limit === 0 ? 'no quota' : `${used === null ? '?' : formatUsage(used)} of ${formatDiskSize(limit)}`;

/** `berth sessions` (and `berth ssh sessions`): the open sessions, SSH and web. */
export function sessionsTable(sessions: SshSessionView[]): string {
  const age = (iso: string) => `${Math.round((Date.now() - Date.parse(iso)) / 1000)} s`;
  return table(
    ['ID', 'USER', 'VM', 'KIND', 'COMMAND', 'SOURCE', 'AGE', 'IN', 'OUT', 'KEY'],
    sessions.map((s) => [
      s.id,
      s.user,
      s.vm,
      s.recording ? `${s.kind} (rec)` : s.kind,
      (s.command ?? '-').slice(0, 40),
      s.source,
      age(s.startedAt),
      formatSize(s.bytesIn),
      formatSize(s.bytesOut),
      s.fingerprint,
    ]),
  );
}

/** `berth sessions recordings`: newest first. */
export function recordingsTable(recordings: RecordingView[]): string {
  return table(
    ['ID', 'USER', 'VM', 'VIA', 'COMMAND', 'STARTED', 'LENGTH', 'SIZE', 'INPUT'],
    recordings.map((r) => [
      r.id,
      r.login,
      r.vm,
      r.via,
      terminalSafe((r.command ?? 'shell').slice(0, 40)),
      r.startedAt.replace('T', ' ').slice(0, 19),
      `${r.seconds} s`,
      formatSize(r.bytes),
      r.input ? 'yes' : 'no',
    ]),
  );
}
