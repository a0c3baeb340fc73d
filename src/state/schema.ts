import { z } from 'zod';
import { AGENT_PERMISSIONS, AGENT_SESSION_PATTERN } from '../values/agents.js';
import { BACKUP_SCHEDULES } from '../values/backup.js';
import { ConfigSetSchema, DISCORD_ID_PATTERN } from '../values/config-keys.js';
import { LOGIN_PATTERN, PLAN_NAME_PATTERN } from '../values/names.js';
import { RECORD_MODES } from '../values/recording.js';

export const STATE_VERSION = 5;

/** Ids berth makes (users, VMs, homes): 12 random hex digits, never reused, never derived from a name. */
export const ID_PATTERN = /^[0-9a-f]{12}$/;

export const PlanSchema = z
  .object({
    name: z.string().regex(PLAN_NAME_PATTERN),
    /** Unset: the global `cpu` default applies. */
    cpu: z.number().positive().optional(),
    /** Unset: the global `ram` default applies. */
    ramBytes: z.number().int().positive().optional(),
    gpu: z.union([z.number().int().min(0), z.literal('all')]),
    pids: z.number().int().positive(),
    maxVms: z.number().int().min(0),
    /** Users may sudo in their VM (and `no-new-privileges` is off). */
    sudo: z.boolean(),
    /** A VM running longer than this is stopped (0 = no limit). */
    maxLifetimeSeconds: z.number().int().min(0),
    /** Size of a VM's home (its own filesystem); unset: config `disk`; 0: no quota. */
    diskBytes: z.number().int().min(0).optional(),
    /** Most a VM may write outside its home; unset: config `rootfs`; 0: no limit. */
    rootfsBytes: z.number().int().min(0).optional(),
    /** What a coding agent may do in the plan's VMs, driven from chat; unset: off. */
    agent: z.enum(AGENT_PERMISSIONS).optional(),
    /** Apps a user may run (unset: DEFAULT_APP_LIMITS). */
    maxApps: z.number().int().min(0).optional(),
    appCpu: z.number().positive().optional(),
    appRamBytes: z.number().int().positive().optional(),
    appPids: z.number().int().positive().optional(),
    /** An app running longer than this is stopped (0 = no limit). */
    appLifetimeSeconds: z.number().int().min(0).optional(),
    /** Anyone (not only the owner) may open the plan's apps' HTTP ports through the web server. */
    appPublic: z.boolean().optional(),
    /** Sessions recorded: overrides config sessions.record for the plan's users; unset: the config's. */
    record: z.enum(RECORD_MODES).optional(),
    /** How often its users' homes are backed up; unset: off. */
    backup: z.enum(BACKUP_SCHEDULES).optional(),
    /** How many snapshots are kept (e.g. `7d,4w`); unset: DEFAULT_KEEP. */
    backupKeep: z.string().max(60).optional(),
    /** Its users may list, take and restore their own backups from chat. */
    backupSelf: z.boolean().optional(),
    description: z.string(),
  })
  .strict();
export type Plan = z.infer<typeof PlanSchema>;

export const SshKeySchema = z
  .object({
    type: z.string(),
    /** The key blob, base64, as in authorized_keys. */
    data: z.string(),
    comment: z.string(),
    fingerprint: z.string(),
    bits: z.number().int().positive(),
    addedAt: z.string(),
  })
  .strict();
export type SshKey = z.infer<typeof SshKeySchema>;

/**
 * A user's secret (an agent's API key), encrypted: AES-256-GCM under the berth home's data key
 * (OS keychain or secrets.json, never the state file), bound to the user's id and the name.
 */
export const UserSecretSchema = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/),
    iv: z.string(),
    tag: z.string(),
    data: z.string(),
    setAt: z.string(),
  })
  .strict();
export type UserSecret = z.infer<typeof UserSecretSchema>;

/** A user's current conversation with an agent in one of their VMs (the agent's own session id). */
export const ConversationSchema = z
  .object({
    agent: z.string(),
    vm: z.string().regex(PLAN_NAME_PATTERN),
    session: z.string().regex(AGENT_SESSION_PATTERN),
    startedAt: z.string(),
    updatedAt: z.string(),
  })
  .strict();
export type Conversation = z.infer<typeof ConversationSchema>;

export const USER_STATUSES = ['pending', 'allowed', 'rejected', 'revoked'] as const;
export type UserStatus = (typeof USER_STATUSES)[number];
export const ROLES = ['user', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** A token a user's own programs (their CI) use for berth's HTTP API: only its SHA-256 is kept. */
export const ApiTokenSchema = z
  .object({
    id: z.string().regex(/^[0-9a-f]{8}$/),
    name: z.string().max(40),
    /** SHA-256 of the whole token, hex. */
    hash: z.string().regex(/^[0-9a-f]{64}$/),
    createdAt: z.string(),
    lastUsedAt: z.string().optional(),
  })
  .strict();
export type ApiToken = z.infer<typeof ApiTokenSchema>;

export const UserSchema = z
  .object({
    /** Who this is, for good: homes belong to the id, never to the login (a freed login is reused). */
    id: z.string().regex(ID_PATTERN),
    login: z.string().regex(LOGIN_PATTERN),
    telegramId: z.number().int().positive().optional(),
    /** The user blocked the bot: notices to them are skipped until they write again. */
    telegramBlocked: z.boolean().optional(),
    /** The user's Discord account (a snowflake, kept as a string). */
    discordId: z.string().regex(DISCORD_ID_PATTERN).optional(),
    /** The Discord bot cannot write to the user (DMs closed): notices are skipped until they write again. */
    discordBlocked: z.boolean().optional(),
    role: z.enum(ROLES),
    plan: z.string(),
    status: z.enum(USER_STATUSES),
    createdAt: z.string(),
    keys: z.array(SshKeySchema),
    secrets: z.array(UserSecretSchema).optional(),
    conversation: ConversationSchema.optional(),
    apiTokens: z.array(ApiTokenSchema).optional(),
  })
  .strict();
export type User = z.infer<typeof UserSchema>;

export const VM_NAME_PATTERN = PLAN_NAME_PATTERN;

export const STOP_REASONS = [
  'operator',
  'user',
  'maintenance',
  'idle',
  'lifetime',
  'exited',
  'oom',
  'disk',
  'revoked',
  'firewall',
  'restore',
] as const;
export type StopReason = (typeof STOP_REASONS)[number];

/** What a VM was given when its container was (re)created. */
export const ResourcesSchema = z
  .object({
    cpu: z.number().positive(),
    memoryBytes: z.number().int().positive(),
    pids: z.number().int().positive(),
    gpu: z.union([z.number().int().min(0), z.literal('all')]),
    sudo: z.boolean(),
    /** The home's quota (0: none). Unset on VMs made before quotas: "no quota" until rebuilt. */
    diskBytes: z.number().int().min(0).optional(),
    /** The limit on what it writes outside its home (0: none). */
    rootfsBytes: z.number().int().min(0).optional(),
    /** How the rootfs limit holds: by the engine (storage-opt), or measured by the daemon. */
    rootfsEnforced: z.enum(['engine', 'measured']).optional(),
  })
  .strict();
export type Resources = z.infer<typeof ResourcesSchema>;

export const VmSchema = z
  .object({
    /** Opaque: names its container (which other VMs can resolve), so it tells nothing. */
    id: z.string().regex(ID_PATTERN),
    user: z.string().regex(LOGIN_PATTERN),
    name: z.string().regex(VM_NAME_PATTERN),
    plan: z.string(),
    image: z.string(),
    /** The home it mounts (see `homes`). */
    home: z.string().regex(ID_PATTERN),
    /** `creating` while its Docker objects are being made (the slot is reserved). */
    phase: z.enum(['creating', 'ready']),
    containerId: z.string().nullable(),
    desired: z.enum(['running', 'stopped']),
    resources: ResourcesSchema,
    createdAt: z.string(),
    lastStartedAt: z.string().optional(),
    lastStoppedAt: z.string().optional(),
    lastExitCode: z.number().int().optional(),
    oomKilledAt: z.string().optional(),
    /** Why berth (or the engine) last stopped it. */
    stopReason: z.enum(STOP_REASONS).optional(),
    /** Last time a session or CPU use showed someone at work (idle policy). */
    lastActiveAt: z.string().optional(),
    /** On Swarm (config engine swarm): the node that holds its home, where it is pinned. Unset: the manager's. */
    node: z.string().optional(),
  })
  .strict();
export type Vm = z.infer<typeof VmSchema>;

export const APP_RUNTIMES = ['python', 'node'] as const;
export type AppRuntime = (typeof APP_RUNTIMES)[number];
export const APP_SOURCE_KINDS = ['files', 'archive', 'vm', 'git', 'image', 'upload'] as const;
export type AppSourceKind = (typeof APP_SOURCE_KINDS)[number];

/** Where an app's code came from (what a redeploy takes again), never its content. */
export const AppSourceSchema = z
  .object({
    kind: z.enum(APP_SOURCE_KINDS),
    /** Code sources: the language berth builds for. */
    runtime: z.enum(APP_RUNTIMES).optional(),
    /** Code sources: the file run (relative to the app's directory). */
    entrypoint: z.string().max(255).optional(),
    /** git: an https URL without credentials, and a branch. */
    url: z.string().max(500).optional(),
    branch: z.string().max(200).optional(),
    /** vm: the VM's name and the directory in it. */
    vm: z.string().regex(VM_NAME_PATTERN).optional(),
    path: z.string().max(1024).optional(),
    /** image: the image (allowed by apps.images) as the user named it. */
    image: z.string().max(255).optional(),
  })
  .strict();
export type AppSource = z.infer<typeof AppSourceSchema>;

export const APP_STATUSES = ['building', 'starting', 'running', 'restarting', 'stopped', 'crashed', 'failed'] as const;
export type AppStatus = (typeof APP_STATUSES)[number];

export const AppSchema = z
  .object({
    /** Opaque: names its container and image. */
    id: z.string().regex(ID_PATTERN),
    user: z.string().regex(LOGIN_PATTERN),
    /** The owner's id (a login can be reused; the id never is). */
    userId: z.string().regex(ID_PATTERN),
    name: z.string().regex(VM_NAME_PATTERN),
    plan: z.string(),
    source: AppSourceSchema,
    /** The image it runs (berth's build, or the allowed image); null before its first build. */
    image: z.string().nullable(),
    /** Plain variables (never secrets). */
    env: z.record(z.string(), z.string()),
    /** Variables filled from the owner's encrypted secrets when it starts: ENV name and secret name. */
    secrets: z.array(z.object({ env: z.string(), name: z.string() }).strict()),
    /** The port its HTTP server listens on, for the web server's app address. */
    port: z.number().int().min(1).max(65535).optional(),
    resources: z
      .object({ cpu: z.number().positive(), memoryBytes: z.number().int().positive(), pids: z.number().int().positive() })
      .strict(),
    lifetimeSeconds: z.number().int().min(0),
    desired: z.enum(['running', 'stopped']),
    status: z.enum(APP_STATUSES),
    containerId: z.string().nullable(),
    /** On Swarm: the node it runs on. */
    node: z.string().optional(),
    createdAt: z.string(),
    deployedAt: z.string(),
    startedAt: z.string().optional(),
    stoppedAt: z.string().optional(),
    stopReason: z.enum(['operator', 'user', 'maintenance', 'lifetime', 'crashed', 'revoked']).optional(),
    /** Restarts after crashes since it was deployed or started by hand. */
    restarts: z.number().int().min(0),
    /** status restarting: when berth starts it again (after a crash, with backoff). */
    restartAt: z.string().optional(),
    /** When it crashed within the last hour (bounded), oldest first. */
    crashes: z.array(z.string()).max(100),
    lastExitCode: z.number().int().optional(),
    oomKilledAt: z.string().optional(),
    /** The last build: when, how long, how it ended, and (failed) its last lines. */
    build: z
      .object({
        at: z.string(),
        seconds: z.number().min(0),
        outcome: z.enum(['ok', 'failed', 'timeout']),
        tail: z.string().max(4000).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();
export type App = z.infer<typeof AppSchema>;

/**
 * A home: the volume (and, with a quota, the disk image) a VM mounts at /home/LOGIN. It belongs to
 * a user id; a kept home outlives its VM (and, until deleted or given away, its removed owner).
 */
export const HomeSchema = z
  .object({
    id: z.string().regex(ID_PATTERN),
    /** The owner's user id; null once the owner was removed with --keep-homes. */
    owner: z.string().regex(ID_PATTERN).nullable(),
    /** The owner's login when the home was made or last given (for people reading lists). */
    login: z.string().regex(LOGIN_PATTERN),
    /** The VM name it was made for: a new VM of that name for that owner gets it back. */
    vm: z.string().regex(VM_NAME_PATTERN),
    volume: z.string(),
    /** Size of its own filesystem (a disk image under the berth home); null: no quota. */
    diskBytes: z.number().int().positive().nullable(),
    createdAt: z.string(),
    /** On Swarm: the node whose engine has its volume. Unset: the manager's (or the one engine). */
    node: z.string().optional(),
    /** The ids of the homes this one took the place of (a home moved into a quota): their backups are its own. */
    lineage: z.array(z.string().regex(ID_PATTERN)).max(50).optional(),
  })
  .strict();
export type Home = z.infer<typeof HomeSchema>;

/** What berth found of a Swarm node's daemon defaults (what a service cannot ask for itself). */
export const NodeDefaultsSchema = z
  .object({
    noNewPrivileges: z.boolean(),
    seccomp: z.boolean(),
    /** null: the node's kernel has no AppArmor. */
    apparmor: z.boolean().nullable(),
    checkedAt: z.string(),
  })
  .strict();
export type NodeDefaults = z.infer<typeof NodeDefaultsSchema>;

/** How berth reaches one Swarm node's own engine (exec, logs, stats, homes go there). */
export const NodeEngineSchema = z
  .object({
    /** Swarm's node id. */
    id: z.string().regex(/^[a-z0-9]{25}$/),
    hostname: z.string(),
    /** A Docker context name, ssh://…, tcp://… (with TLS) or unix:///…; empty: not set yet. */
    endpoint: z.string(),
    /** For tcp://: the directory with ca.pem, cert.pem and key.pem (Docker's DOCKER_CERT_PATH). */
    tlsDir: z.string().optional(),
    defaults: NodeDefaultsSchema.optional(),
    /** berth places no new VM there (`berth node drain`); its VMs stay and start as before. */
    drained: z.boolean().optional(),
  })
  .strict();
export type NodeEngine = z.infer<typeof NodeEngineSchema>;

export const MaintenanceSchema = z
  .object({
    on: z.boolean(),
    reason: z.string(),
    since: z.string().nullable(),
    /** When a scheduled window ends; null when turned on by hand. */
    until: z.string().nullable(),
    source: z.enum(['operator', 'schedule']).nullable(),
    /** The schedule whose window this is. */
    window: z.string().nullable(),
    /** VMs this maintenance stopped, to start again when it ends. */
    stoppedVms: z.array(z.string()),
  })
  .strict();
export type Maintenance = z.infer<typeof MaintenanceSchema>;

export const ScheduleSchema = z
  .object({
    id: z.string().regex(/^w\d+$/),
    cron: z.string(),
    tz: z.string(),
    durationSeconds: z.number().int().positive(),
    notifySeconds: z.number().int().min(0),
    reason: z.string(),
    createdAt: z.string(),
    /** The occurrence (its start, ISO) last announced and entered: each happens once. */
    notifiedFor: z.string().nullable(),
    enteredFor: z.string().nullable(),
  })
  .strict();
export type Schedule = z.infer<typeof ScheduleSchema>;

export const VM_EVENT_KINDS = [
  'create',
  'start',
  'stop',
  'restart',
  'destroy',
  'die',
  'oom',
  'idle-stop',
  'lifetime-stop',
  'maintenance-stop',
  'disk-stop',
  'revoke-stop',
  /** A change of access (revoked, removed, key removed, role changed) that ended live sessions. */
  'access',
  /** Apps (the entry's `vm` is `app:USER/NAME`): deployed, started, stopped, crashed, removed. */
  'app-deploy',
  'app-start',
  'app-stop',
  'app-crash',
  'app-remove',
] as const;
export type VmEventKind = (typeof VM_EVENT_KINDS)[number];

/** One line of the VM event log (newest last, bounded): what happened to a VM, and why. */
export const VmEventEntrySchema = z
  .object({
    at: z.string(),
    vm: z.string(),
    user: z.string(),
    kind: z.enum(VM_EVENT_KINDS),
    reason: z.string(),
  })
  .strict();
export type VmEventEntry = z.infer<typeof VmEventEntrySchema>;

export const StateSchema = z
  .object({
    version: z.literal(STATE_VERSION),
    /** Tells this berth home's Docker objects from another's on a shared engine. */
    instanceId: z.string().regex(/^[0-9a-f]{12}$/),
    plans: z.array(PlanSchema),
    users: z.array(UserSchema),
    vms: z.array(VmSchema),
    homes: z.array(HomeSchema),
    config: ConfigSetSchema,
    maintenance: MaintenanceSchema,
    schedules: z.array(ScheduleSchema),
    /** The latest VM events (bounded, newest last). */
    events: z.array(VmEventEntrySchema),
    /** Swarm nodes' engines (config engine swarm). */
    nodes: z.array(NodeEngineSchema).optional(),
    /** Users' apps (long-running processes in containers of their own). */
    apps: z.array(AppSchema).optional(),
  })
  .strict()
  .superRefine((state, ctx) => {
    const problem = (message: string) => ctx.addIssue({ code: z.ZodIssueCode.custom, message });
    for (const dup of duplicates(state.plans.map((p) => p.name))) problem(`plan "${dup}" appears twice`);
    for (const dup of duplicates(state.users.map((u) => u.login))) problem(`user "${dup}" appears twice`);
    for (const dup of duplicates([...state.users, ...state.vms, ...state.homes, ...(state.apps ?? [])].map((x) => x.id)))
      problem(`id ${dup} is used twice`);
    for (const dup of duplicates((state.apps ?? []).map((a) => `${a.user}/${a.name}`))) problem(`app ${dup} appears twice`);
    const ids = state.users.flatMap((u) => (u.telegramId === undefined ? [] : [String(u.telegramId)]));
    for (const dup of duplicates(ids)) problem(`Telegram id ${dup} belongs to two users`);
    const discordIds = state.users.flatMap((u) => (u.discordId === undefined ? [] : [u.discordId]));
    for (const dup of duplicates(discordIds)) problem(`Discord id ${dup} belongs to two users`);
    for (const user of state.users) {
      for (const dup of duplicates(user.keys.map((k) => k.fingerprint))) problem(`user "${user.login}" has SSH key ${dup} twice`);
    }
    const plans = new Set(state.plans.map((p) => p.name));
    for (const user of state.users) {
      if (!plans.has(user.plan)) problem(`user "${user.login}" is on plan "${user.plan}", which does not exist`);
    }
    const logins = new Set(state.users.map((u) => u.login));
    for (const dup of duplicates(state.vms.map((vm) => `${vm.user}-${vm.name}`)))
      problem(`two VMs would share the Docker name berth-${dup}`);
    const homes = new Map(state.homes.map((h) => [h.id, h]));
    const userIds = new Map(state.users.map((u) => [u.id, u.login]));
    for (const dup of duplicates(state.vms.map((vm) => vm.home))) problem(`two VMs mount home ${dup}`);
    for (const dup of duplicates(state.homes.map((h) => h.volume))) problem(`two homes share the volume ${dup}`);
    for (const vm of state.vms) {
      if (!logins.has(vm.user)) problem(`VM ${vm.user}/${vm.name} belongs to a user who does not exist`);
      if (!plans.has(vm.plan)) problem(`VM ${vm.user}/${vm.name} is on plan "${vm.plan}", which does not exist`);
      const home = homes.get(vm.home);
      if (!home) problem(`VM ${vm.user}/${vm.name} mounts home ${vm.home}, which does not exist`);
      else if (home.owner === null || userIds.get(home.owner) !== vm.user)
        problem(`VM ${vm.user}/${vm.name} mounts a home that is not ${vm.user}'s`);
    }
    for (const app of state.apps ?? []) {
      if (userIds.get(app.userId) !== app.user) problem(`app ${app.user}/${app.name} belongs to a user who does not exist`);
      if (!plans.has(app.plan)) problem(`app ${app.user}/${app.name} is on plan "${app.plan}", which does not exist`);
    }
    for (const home of state.homes) {
      if (home.owner !== null && !userIds.has(home.owner)) problem(`home ${home.id} belongs to user id ${home.owner}, who does not exist`);
    }
  });
export type State = z.infer<typeof StateSchema>;

function duplicates(values: string[]): string[] {
  const seen = new Set<string>();
  const dups = new Set<string>();
  for (const v of values) (seen.has(v) ? dups : seen).add(v);
  return [...dups];
}
