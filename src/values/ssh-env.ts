/**
 * Which variables an SSH client may set in a gateway session: LANG, LC_*, TERM and GIT_PROTOCOL, plus
 * the names in `ssh.accept-env` — never the ones berth sets itself or that change what
 * runs (the session tag, the login's identity, PATH, the dynamic loader, shell start files).
 */
// GIT_PROTOCOL: git asks for protocol v2 with it (sshd on code hosts accepts it by default).
const BASE_ENV = /^(LANG|LC_[A-Z_]+|TERM|GIT_PROTOCOL)$/;
const RESERVED_ENV = /^(BERTH_SESSION|HOME|USER|LOGNAME|PATH|SHELL|LD_.*|BASH_ENV|ENV|IFS|PS4|SHELLOPTS|BASHOPTS)$/;

/** The most variables a client may pass into one session. */
export const MAX_CLIENT_ENV = 64;

/** True for a name no client (and no `ssh.accept-env`) may set. */
export function isReservedEnvName(name: string): boolean {
  return RESERVED_ENV.test(name);
}

/** Whether a client's `env` request is taken: allowed name, sane value. */
export function acceptClientEnv(name: string, value: string, acceptEnv: readonly string[]): boolean {
  if (isReservedEnvName(name)) return false;
  if (!BASE_ENV.test(name) && !acceptEnv.includes(name)) return false;
  return value.length <= 4096 && !value.includes('\0');
}
