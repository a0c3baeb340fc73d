/** Errors of homes: the volume each VM mounts at /home/LOGIN, and the disk image that gives it a quota. */
export const HOMES_ERRORS = {
  INVALID_HOME: 'That is not a home id (12 hex digits): see `berth home list`.',
  HOME_NOT_FOUND: 'There is no home of that id: see `berth home list`.',
  HOME_IN_USE: 'A VM mounts that home: destroy the VM first (with --keep-data to keep the home).',
  HOME_EXISTS:
    'The user already has a kept home for a VM of that name: give this one for another VM name (--vm NAME), or delete the other.',
  HOME_TOO_BIG:
    "The VM's files do not fit the plan's home quota, so the rebuild changed nothing: free space in the home, or give the plan a larger --disk.",
  VOLUME_CONFLICT:
    "A Docker volume of the home's name exists and is not that home: inspect it (docker volume inspect) and remove or rename it.",
  DISK_QUOTA_UNAVAILABLE:
    'Home quotas need root, util-linux and e2fsprogs: run berth as root with them installed, or turn quotas off (config disk 0).',
  DISK_MISSING: "The home's disk image is missing: restore it from a backup, or destroy the VM without --keep-data and create it again.",
  DISK_BUSY: "Another berth process holds the home's disk image: try again in a moment.",
  DISK_ERROR: "Attaching, making or checking the home's disk image failed (losetup, mkfs); the home was not changed: see the message.",
} as const;
