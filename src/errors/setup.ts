/** Errors of set-up: the berth home and its state file, the daemon and its control API, the servers it starts. */
export const SETUP_ERRORS = {
  NOT_INITIALISED:
    'berth has no state file in this home: run `berth init` (or `berth up`), or point BERTH_HOME at the directory holding state.json.',
  STATE_CORRUPT: 'The state file is damaged and berth has not changed it: fix it by hand, or restore the last good copy, state.json.bak.',
  STATE_UNREADABLE: 'The state file cannot be read: check that it and its directory belong to the user running berth.',
  STATE_WRITE_FAILED:
    'The state file cannot be written, so nothing was changed: check free disk space and the permissions of the berth home.',
  STATE_LOCKED: 'Another berth process has held the state lock for too long: try again; if no berth process runs, remove state.json.lock.',
  STATE_LOCK_LOST: 'The state lock was lost while a change was under way, and the change was not written: run the command again.',
  STATE_TOO_NEW: 'The state file was written by a newer berth: upgrade berth on this host; the file was not changed.',
  DAEMON_NOT_RUNNING: 'The command needs the berth daemon and it is not running: start it with `berth daemon start`.',
  DAEMON_RUNNING: 'A berth daemon already runs for this home: see it with `berth daemon status`, stop it with `berth daemon stop`.',
  DAEMON_START_FAILED:
    'The daemon did not come up; the error shows the last lines of its log: fix what they say, or run `berth daemon run` to watch it.',
  DAEMON_TIMEOUT: 'The daemon did not answer in time: see what it is doing with `berth daemon logs`, or restart it.',
  DAEMON_UNREACHABLE:
    "The daemon's socket cannot be reached (often: another user runs it): run berth as the daemon's user; see `berth daemon status`.",
  DAEMON_ERROR: 'The daemon failed to answer a request, or answered with something that is not JSON: see `berth daemon logs`.',
  NO_DAEMON_LOG: 'There is no daemon log yet: start the daemon first (`berth daemon start`).',
  BAD_REQUEST: 'The daemon refused a malformed request, usually because berth and its daemon are different versions: restart the daemon.',
  NOT_FOUND: 'The daemon has no such route, usually because berth and its daemon are different versions: restart the daemon.',
  HOST_KEY_INVALID:
    "The SSH gateway's host key file is not an ed25519 private key: move it away; the daemon makes a new one at its next start.",
  HOST_KEY_MODE: "The SSH gateway's host key file can be read or changed by others: chmod 600 it, or move it away for a new key.",
  WEB_INSECURE:
    'web.listen is not a loopback address and no TLS is set, so the web server does not start: listen on 127.0.0.1 behind a proxy, or set web.tls-cert and web.tls-key.',
  WEB_PUBLIC_URL_MISSING:
    'web.listen listens on every address and web.public-url is not set, so berth cannot tell which URL users open: set web.public-url.',
  WEB_TLS_INCOMPLETE: 'Only one of web.tls-cert and web.tls-key is set: set both, or unset both for plain HTTP.',
  WEB_TLS_UNREADABLE: "The web server's certificate or key file cannot be read: fix web.tls-cert / web.tls-key or the file's permissions.",
  WEB_ASSETS_MISSING: "The web terminal's page files are missing from the build: build berth again (npm run build).",
  WEB_APPS_DOMAIN_OVERLAP:
    "berth's own address is under web.apps-domain, where every host is an app's: give the apps a domain of their own.",
  WEB_NOT_RUNNING: "The daemon's web server is not running, so no web link can be given: see `berth daemon status` (component web).",
} as const;
