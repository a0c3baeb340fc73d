/** Errors of reaching a VM: SSH and web sessions, one-time web links and apps, and maintenance. */
export const ACCESS_ERRORS = {
  ACCESS_REVOKED:
    "The user's access was withdrawn (revoked, removed, key removed or role changed) and their sessions ended: ask the operator.",
  MAINTENANCE:
    'berth is in maintenance, so VMs cannot be created or started: wait until it ends (`berth maintenance status`), or pass --force as operator.',
  INVALID_SCHEDULE: 'The maintenance window is not a usable cron pattern in an IANA time zone: write e.g. "0 3 * * 0" and Europe/Paris.',
  INVALID_REASON: 'The maintenance reason is too long or holds control characters: use one line of at most 200 characters.',
  SCHEDULE_NOT_FOUND: 'There is no maintenance window of that id: see `berth maintenance schedule list`.',
  SESSION_NOT_FOUND: 'There is no open session of that id (it may have ended): see `berth sessions`.',
  INVALID_SESSION_ID: 'That is not a session id (12 hex digits): see `berth sessions`.',
  RECORDING_NOT_FOUND: 'There is no session recording of that id (it may have been deleted by retention): see `berth sessions recordings`.',
  INVALID_RECORDING_ID: 'That is not a recording id (the session id, 12 hex digits): see `berth sessions recordings`.',
  RECORDINGS_NOT_OFFERED:
    'Users may not list or replay their own recordings on this host: the operator can allow it (config sessions.record-self on).',
  INVALID_REPLAY_OPTION:
    'A replay speed or idle limit is out of range: give a speed from 0.1 to 100 and an idle limit from 0.1 s to 3600 s.',
  INVALID_PORT: 'That is not a TCP port: give one from 1 to 65535, e.g. 8000.',
  VM_LISTEN_FAILED: 'The VM could not listen on the port asked for (ssh -R): try another port (1024 or above, free in the VM).',
  VM_NO_HELPER: "The VM's image has no berth helper, needed for -R, agent and X11 forwarding: ask for a VM on the default image.",
  WEB_DISABLED: 'The web terminal is turned off on this host: the operator can turn it on (config web.enabled on).',
  WEB_APPS_OFF: 'This host serves no web apps (no web.apps-domain, and web.path-apps off): the operator can set web.apps-domain.',
  WEB_APP_HOST_TOO_LONG: "The app's host name would be longer than a DNS label may be: use a VM with a shorter name, or ask for path apps.",
  WEB_APP_NEEDS_DOMAIN:
    "A user's app is only served on an address of its own, and this host has no web.apps-domain: the operator can set one (wildcard DNS and certificate).",
  WEB_APP_NO_PORT: 'The app has no HTTP port, so it has no web address: deploy it again with --port PORT (berth sets PORT for it).',
  WEB_LINK_RATE: 'The user was given as many web links in the last minute as web.ticket-rate allows: wait a minute and ask again.',
  WEB_LINKS_FULL: 'Too many web links are waiting to be opened on this host: try again in a minute.',
  WEB_LINK_INVALID: 'The web link has expired or was already used (a link works once, within 60 s): ask for a new one.',
  WEB_ORIGIN: "The page was not opened at berth's own address (web.public-url): open berth's links as they are given.",
  WEB_SLOW_DOWN: 'Too many links were opened from this address in a minute: wait a minute.',
  WEB_SWITCH_USER: 'The browser is signed in as another berth user: the page asks whether to continue as the user of the link.',
  WEB_NOT_FOUND: 'There is no web app at that address: ask for a new link (/open PORT, `berth vm url`).',
  WEB_NOT_OWNER: "The browser is not signed in as the app's owner: open the app with a new link from berth.",
} as const;
