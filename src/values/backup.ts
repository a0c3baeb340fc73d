import { BerthError, invalidInput } from '../errors.js';

/** How often a plan's homes are backed up. */
export const BACKUP_SCHEDULES = ['off', 'daily', 'hourly'] as const;
export type BackupSchedule = (typeof BACKUP_SCHEDULES)[number];

export function parseBackupSchedule(input: string): BackupSchedule {
  const s = input.trim().toLowerCase();
  if ((BACKUP_SCHEDULES as readonly string[]).includes(s)) return s as BackupSchedule;
  throw invalidInput('INVALID_BACKUP_SCHEDULE', `"${input.slice(0, 40)}" is not a backup schedule.`, 'Use off, daily or hourly.');
}

/** What a plan keeps when it does not say: 7 daily and 4 weekly snapshots. */
export const DEFAULT_KEEP = '7d,4w';

/** restic's `forget --keep-*` flags by the unit a retention is written in. */
const KEEP_FLAGS = {
  l: '--keep-last',
  h: '--keep-hourly',
  d: '--keep-daily',
  w: '--keep-weekly',
  m: '--keep-monthly',
  y: '--keep-yearly',
} as const;

/**
 * A retention as written (`7d,4w,12m`: 7 daily, 4 weekly, 12 monthly snapshots; `l` the last N),
 * checked and put in a canonical order; throws INVALID_KEEP.
 */
export function parseKeep(input: string): string {
  const parts = input
    .toLowerCase()
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  const seen = new Map<string, number>();
  for (const part of parts) {
    const m = /^(\d{1,4})([lhdwmy])$/.exec(part);
    const n = Number(m?.[1]);
    if (!m || n < 1 || seen.has(m[2] as string)) {
      throw invalidInput(
        'INVALID_KEEP',
        `"${part.slice(0, 20)}" is not a retention of the form N plus a unit.`,
        'For example 7d,4w,12m (7 daily, 4 weekly, 12 monthly) or 24h,7d; l keeps the last N.',
      );
    }
    seen.set(m[2] as string, n);
  }
  if (seen.size === 0) throw new BerthError('INVALID_KEEP', 'The retention is empty.', 'For example 7d,4w,12m.');
  return (Object.keys(KEEP_FLAGS) as Array<keyof typeof KEEP_FLAGS>)
    .filter((u) => seen.has(u))
    .map((u) => `${seen.get(u)}${u}`)
    .join(',');
}

/** restic forget's flags for a retention written as parseKeep keeps it. */
export function keepFlags(keep: string): string[] {
  return parseKeep(keep)
    .split(',')
    .flatMap((part) => [KEEP_FLAGS[part.slice(-1) as keyof typeof KEEP_FLAGS], part.slice(0, -1)]);
}

/** Where the repository is: an absolute path on the host (mounted into the backup container), or a restic URL. */
export type RepositoryLocation = { kind: 'local'; path: string } | { kind: 'remote'; url: string };

const REMOTE = /^(rest|s3|b2|azure|gs|swift):\S+$/;

export function parseRepository(input: string): RepositoryLocation {
  const s = input.trim();
  if (s.startsWith('/') && !s.includes('\0') && !/(^|\/)\.\.(\/|$)/.test(s)) return { kind: 'local', path: s.replace(/\/+$/, '') || '/' };
  if (/^(sftp|rclone):/.test(s))
    throw invalidInput(
      'INVALID_REPOSITORY',
      `${s.slice(0, s.indexOf(':'))}: repositories need a program beside restic (ssh, rclone) that berth's backup container does not have.`,
      'Use a REST server (rest:https://host:8000/), an S3-compatible store (s3:…), B2, Azure, Google Cloud Storage or Swift, or a path mounted on the host.',
    );
  if (REMOTE.test(s)) {
    if (/^[a-z0-9]+:[^/]*\/\/[^/@]*:[^/@]*@/.test(s) || /^rest:https?:\/\/[^/@]+@/.test(s))
      throw invalidInput(
        'INVALID_REPOSITORY',
        'The repository URL holds a password; berth keeps secrets out of its state file.',
        'Give the URL without it, and the credentials with: berth backup credentials NAME (read from standard input).',
      );
    return { kind: 'remote', url: s };
  }
  throw invalidInput(
    'INVALID_REPOSITORY',
    `"${s.slice(0, 80)}" is not a repository berth can use.`,
    'Give an absolute path (/srv/berth-backups), or a restic URL such as rest:https://host:8000/ or s3:s3.amazonaws.com/bucket.',
  );
}
