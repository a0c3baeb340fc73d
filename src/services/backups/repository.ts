import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { LABEL } from '../../docker/labels.js';
import type { DockerRuntime } from '../../docker/runtime.js';
import { BerthError, invalidInput } from '../../errors.js';
import { parseRepository, type RepositoryLocation } from '../../values/backup.js';
import { type ConfigValues, effectiveConfig } from '../../values/config-keys.js';
import type { Berth } from '../core/context.js';
import { loadHomeSecret, removeHomeSecret, type StoredSecret, saveHomeSecret } from '../secrets/keychain.js';
import { type ResticRun, resticFailed, resticImage, runRestic } from './restic.js';

/** The repository's password, like the bot token: the OS keychain, else the berth home's 0600 secrets file. */
const PASSWORD = { service: 'berth-backup-password', field: 'backupPassword' } as const;
/** Credentials of a remote repository (AWS_ACCESS_KEY_ID…), a JSON object, kept the same way. */
const CREDENTIALS = { service: 'berth-backup-credentials', field: 'backupCredentials' } as const;
/** Variables restic reads credentials from, per backend: the only names `backup credentials set` takes. */
export const CREDENTIAL_NAMES = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_DEFAULT_REGION',
  'B2_ACCOUNT_ID',
  'B2_ACCOUNT_KEY',
  'AZURE_ACCOUNT_NAME',
  'AZURE_ACCOUNT_KEY',
  'GOOGLE_PROJECT_ID',
  // A repository URL with its password in it (a REST server's user:password@): it then wins over backup.repository.
  'RESTIC_REPOSITORY',
] as const;

/** Where the repository is: config backup.repository, else `<berth home>/backups/repository`. */
export function repositoryOf(home: string, cfg: ConfigValues): RepositoryLocation {
  const configured = cfg['backup.repository'];
  return configured ? parseRepository(configured) : { kind: 'local', path: join(home, 'backups', 'repository') };
}

export const describeRepository = (r: RepositoryLocation) => (r.kind === 'local' ? r.path : r.url);

/** What every restic run against the repository needs: where it is, its secrets, its mount and network. */
export interface RepositoryAccess {
  location: RepositoryLocation;
  secrets: Record<string, string>;
  repositoryPath?: string;
  network: 'none' | 'bridge';
}

async function credentials(home: string): Promise<Record<string, string>> {
  const saved = await loadHomeSecret(home, CREDENTIALS.service, CREDENTIALS.field);
  if (!saved) return {};
  try {
    const parsed = JSON.parse(saved.value) as Record<string, string>;
    return Object.fromEntries(Object.entries(parsed).filter(([k]) => (CREDENTIAL_NAMES as readonly string[]).includes(k)));
  } catch {
    return {};
  }
}

function accessWith(configured: RepositoryLocation, password: string, creds: Record<string, string>): RepositoryAccess {
  const location: RepositoryLocation = creds.RESTIC_REPOSITORY ? { kind: 'remote', url: creds.RESTIC_REPOSITORY } : configured;
  return {
    location,
    secrets: { RESTIC_REPOSITORY: describeRepository(location), RESTIC_PASSWORD: password, ...creds },
    ...(location.kind === 'local' ? { repositoryPath: location.path } : {}),
    network: location.kind === 'local' ? 'none' : 'bridge',
  };
}

const notInitialised = () =>
  new BerthError('BACKUP_NO_REPOSITORY', 'The backup repository is not initialised on this host.', 'Make it: berth backup init');

/** The repository as configured, with its password (BACKUP_NO_REPOSITORY when there is none yet). */
export async function repositoryAccess(ctx: Berth): Promise<RepositoryAccess> {
  const home = ctx.store.home;
  const cfg = effectiveConfig((await ctx.store.snapshot()).config);
  const password = await loadHomeSecret(home, PASSWORD.service, PASSWORD.field);
  if (!password) throw notInitialised();
  return accessWith(repositoryOf(home, cfg), password.value, await credentials(home));
}

/** restic against the repository on `runtime` (berth's own engine unless given), failing with BACKUP_FAILED. */
export async function resticOn(
  ctx: Berth,
  access: RepositoryAccess,
  run: Omit<ResticRun, 'image' | 'secrets' | 'network' | 'labels' | 'repositoryPath'> & {
    runtime?: DockerRuntime;
    what: string;
    /** Run under the host's backup lock: a container of it found later without the lock held is a leftover. */
    locked?: boolean;
  },
): Promise<string> {
  const own = await ctx.runtime();
  const runtime = run.runtime ?? own;
  const image = await resticImage(own);
  if (runtime !== own) await (await ctx.backend()).apps.provide(runtime, image);
  const state = await ctx.store.snapshot();
  const result = await runRestic(runtime, {
    ...run,
    image,
    secrets: access.secrets,
    network: access.network,
    ...(access.repositoryPath ? { repositoryPath: access.repositoryPath } : {}),
    labels: {
      [LABEL.managed]: 'true',
      [LABEL.instance]: state.instanceId,
      'dev.berth.backup': 'true',
      ...(run.locked ? { 'dev.berth.backup-locked': 'true' } : {}),
    },
  });
  if (result.exitCode !== 0) throw resticFailed(run.what, result);
  return result.stdout;
}

export interface InitResult {
  repository: string;
  password: StoredSecret['source'];
  keychainUnavailable?: string;
}

/**
 * Makes the repository: a new random password (kept like the bot token, never shown, logged or in
 * the state), a local folder (0700) where the repository is a path, then `restic init`.
 */
export async function initRepository(ctx: Berth): Promise<InitResult> {
  const home = ctx.store.home;
  const cfg = effectiveConfig((await ctx.store.snapshot()).config);
  const location = repositoryOf(home, cfg);
  if (await loadHomeSecret(home, PASSWORD.service, PASSWORD.field))
    throw new BerthError(
      'BACKUP_REPOSITORY_EXISTS',
      `The backup repository ${describeRepository(location)} is initialised already.`,
      'See it with: berth backup status',
    );
  if (location.kind === 'local') await mkdir(location.path, { recursive: true, mode: 0o700 });
  const password = randomBytes(32).toString('base64url');
  await resticOn(ctx, accessWith(location, password, await credentials(home)), {
    args: ['init'],
    caps: [],
    what: 'Initialising the repository',
  });
  const saved = await saveHomeSecret(home, PASSWORD.service, PASSWORD.field, password);
  return {
    repository: describeRepository(location),
    password: saved.source,
    ...(saved.keychainUnavailable ? { keychainUnavailable: saved.keychainUnavailable } : {}),
  };
}

/** `berth backup credentials NAME` (the value from standard input): a remote repository's credential. */
export async function setRepositoryCredential(home: string, name: string, value: string): Promise<StoredSecret> {
  if (!(CREDENTIAL_NAMES as readonly string[]).includes(name))
    throw invalidInput('INVALID_REPOSITORY', `${name} is not a credential restic reads.`, `Use one of: ${CREDENTIAL_NAMES.join(', ')}`);
  const v = value.trim();
  if (!v || /[\r\n\0]/.test(v))
    throw invalidInput('INVALID_REPOSITORY', `The value of ${name} is empty or spans lines.`, 'Give it on one line.');
  const current = await credentials(home);
  return saveHomeSecret(home, CREDENTIALS.service, CREDENTIALS.field, JSON.stringify({ ...current, [name]: v }));
}

/** Forgets the repository's password (tests; a repository made again elsewhere). */
export async function forgetRepositoryPassword(home: string): Promise<boolean> {
  return removeHomeSecret(home, PASSWORD.service, PASSWORD.field);
}
