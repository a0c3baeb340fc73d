/** Errors of people and plans: users, logins, roles, SSH keys, plans and per-user quotas. */
export const PEOPLE_ERRORS = {
  USER_NOT_FOUND: 'There is no user of that login: see `berth user list`, or add one with `berth user allow LOGIN`.',
  INVALID_LOGIN: 'The login is malformed: 2–32 characters, a lowercase letter, then lowercase letters, digits or "-".',
  RESERVED_LOGIN: 'The login is reserved for a system account (root, ubuntu…): choose another.',
  INVALID_ROLE: 'The role is neither user nor admin: use one of them.',
  INVALID_TRANSITION:
    "The user's status does not allow that step (e.g. approving a revoked user): `berth user allow` lets a revoked or rejected user back in.",
  TELEGRAM_ID_TAKEN: 'The Telegram id already belongs to another user: clear it there first (`berth user set LOGIN --no-telegram-id`).',
  DISCORD_ID_TAKEN: 'The Discord id already belongs to another user: clear it there first (`berth user set LOGIN --discord-id none`).',
  LINK_CODE_INVALID: 'The link code is wrong, used or expired (codes last 10 minutes): ask the bot you already use for a new one.',
  LINK_CODE_SAME_BOT: 'A link code was sent to the bot that made it: send it to the other bot, from the account to be linked.',
  LINK_LOCKED: 'Too many wrong link codes came from this account: wait the time the message gives, then try again.',
  LINK_ACCOUNT_TAKEN:
    'The chat account is another berth user already, one that owns something or is no mere request: an admin must remove that user or clear its id first.',
  LINK_ALREADY_LINKED:
    'The berth user has another account on that bot already: an admin can clear it (`berth user set LOGIN --discord-id none` or `--no-telegram-id`) first.',
  LINK_NOT_ALLOWED: 'The user the link code was made for is no longer allowed: nothing was linked; ask an admin.',
  USER_HAS_VMS: 'The user still has VMs, so they cannot be removed: destroy the VMs first.',
  USER_HAS_HOMES: 'The user has kept homes: say what happens to them, `berth user remove LOGIN --delete-homes` or `--keep-homes`.',
  NOTHING_TO_CHANGE: 'No change was given to `berth user set` or `berth plan set`: pass at least one flag.',
  PLAN_NOT_FOUND: 'There is no plan of that name: the hint lists the plans; add one with `berth plan add`.',
  INVALID_PLAN_NAME: 'The plan name is malformed: 1–32 characters, a lowercase letter, then lowercase letters, digits or "-".',
  INVALID_DESCRIPTION: 'A plan description is too long or holds control characters: use one line of at most 200 characters.',
  PLAN_EXISTS: 'A plan of that name exists already: change it with `berth plan set`.',
  PLAN_IN_USE:
    'Users or VMs are on the plan, so it cannot be removed: move the users to another plan and rebuild or destroy the VMs first.',
  PLAN_NOT_YOURS: 'A user may create VMs on their own plan only: leave the plan out, or ask the operator to change yours.',
  QUOTA_EXCEEDED: "The user has as many VMs as their plan allows (--max-vms): destroy one, or raise the plan's limit.",
  INVALID_SSH_KEY:
    'That is not one SSH public key line (or nothing was given): give the contents of a .pub file, e.g. ~/.ssh/id_ed25519.pub.',
  UNSUPPORTED_SSH_KEY: 'SSH keys of that type are not accepted: use ed25519 (ssh-keygen -t ed25519), ECDSA, or RSA of 2048 bits or more.',
  WEAK_SSH_KEY: 'The RSA key is shorter than 2048 bits: make a new key, e.g. ssh-keygen -t ed25519.',
  PRIVATE_KEY_GIVEN: 'That is a private key, refused without being stored or echoed: give the public half, the .pub file next to it.',
  SSH_KEY_EXISTS: 'The key is already registered for that user: nothing to do.',
  SSH_KEY_LIMIT: 'The user would have more keys than ssh.max-keys allows: remove keys first, or raise ssh.max-keys.',
  SSH_KEY_NOT_FOUND: 'The user has no key of that fingerprint: see their keys with `berth user key list LOGIN`.',
} as const;
