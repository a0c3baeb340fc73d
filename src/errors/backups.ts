/** Errors of backups: the restic repository, snapshots of homes, restores. */
export const BACKUPS_ERRORS = {
  BACKUP_NO_RESTIC: 'restic is not installed on this host: apt-get install restic (scripts/provision.sh installs it).',
  BACKUP_NO_BASE: 'The small base image backups run in (berth-base:busybox) is missing: bash scripts/base-images.sh busybox.',
  BACKUP_NO_REPOSITORY: 'The backup repository is not initialised, or its password is missing: berth backup init.',
  BACKUP_REPOSITORY_EXISTS: 'The backup repository is initialised already: berth backup status shows it.',
  BACKUP_FAILED: 'restic failed: the message gives its last lines; berth backup check looks at the repository.',
  BACKUP_BUSY: 'Another backup or restore of this host is running: wait for it (one runs at a time), or try again.',
  INVALID_REPOSITORY: 'backup.repository is neither an absolute path nor a restic repository URL (rest:, s3:, b2:, azure:, gs:, swift:).',
  INVALID_KEEP: 'The retention is malformed: write counts with units h, d, w, m, y (or l for the last N), comma-separated, e.g. 7d,4w,12m.',
  INVALID_BACKUP_SCHEDULE: 'The backup schedule is not one of off, daily or hourly.',
  INVALID_SNAPSHOT: 'That is not a snapshot id (8 or 64 hex digits): see berth home backups.',
  SNAPSHOT_NOT_FOUND:
    "There is no snapshot of that id of this home: see berth home backups (a snapshot of another person's home is never restored here).",
  BACKUPS_NOT_OFFERED:
    "The user's plan does not let its users manage their own backups from chat: the operator can allow it with berth plan set PLAN --backup-self.",
  BACKUP_RATE: 'Too many backups asked for from chat within the hour: the message says when the next one may be taken.',
  RESTORE_TOO_BIG:
    "The snapshot's files do not fit the home's quota, so nothing was changed: give the plan a larger --disk, or restore --to-new-home on a larger plan.",
} as const;
