/** Errors of configuration values (`berth config set`) and the values flags take. */
export const CONFIG_ERRORS = {
  UNKNOWN_CONFIG_KEY: 'There is no config key of that name: the hint lists them all (see docs/config.md).',
  INVALID_SIZE: 'The size is malformed or out of range: write a number with a unit, such as 512m, 4g or 1.5g.',
  INVALID_NUMBER: 'The value is not a whole number in the range the key or flag takes: the hint gives the range.',
  INVALID_CPUS: 'The CPU count is not a number from 0.01 to 1024: write e.g. 0.5 or 2.',
  INVALID_DURATION:
    'The duration is malformed, too long or too short: write a number with a unit s, m, h or d (30m, 1h30m, 2d), or 0 for off.',
  INVALID_SWITCH: 'The value is neither on nor off: use on or off.',
  INVALID_URL:
    'The URL is malformed or not http(s), or web.public-url has a path, query or user name: write an origin such as https://berth.example.com.',
  INVALID_PATH: 'The path is malformed (a config key needs an absolute path; a file in a VM a relative one): the hint gives an example.',
  INVALID_HOST: 'The value is not a host name: write a DNS name or an IP address, e.g. dev.example.com.',
  INVALID_ADDRESS: 'The listen address is malformed: write host:port, e.g. 0.0.0.0:2222, 127.0.0.1:2222 or [::]:2222.',
  INVALID_ENV_NAME:
    'The name is not an environment variable name, or it is one berth sets itself (HOME, PATH, LD_*…) and cannot be passed in: leave it out.',
  INVALID_LOG_LEVEL: 'The value is not a log level: use trace, debug, info, warn or error.',
  INVALID_MAX_STARTUPS: 'ssh.max-startups is malformed: write start:rate:full as sshd does (e.g. 10:30:100), or one number.',
  INVALID_DISCORD_ID:
    'A Discord id (user, role or server) is not a snowflake of 17 to 20 digits: turn on Developer Mode in Discord and use Copy ID.',
  INVALID_TELEGRAM_MODE: 'telegram.mode is neither polling nor webhook: use one of them.',
  INVALID_RECORD_MODE: 'The value is not a recording mode: use off, output or output+input.',
  INVALID_ENGINE: 'engine is neither local nor swarm: use one of them.',
  INVALID_DOCKER_HOST:
    'The Docker host address is malformed or of an unknown kind: use unix:///var/run/docker.sock, tcp://HOST:2375 or ssh://USER@HOST.',
  INVALID_NETWORK: 'docker.network is not a valid network name: use letters, digits, ".", "_" or "-", e.g. berth-vms.',
  INVALID_APPS_DOMAIN:
    'web.apps-domain is not a DNS name: write the domain whose wildcard points at berth, e.g. apps.example.com (or localhost).',
} as const;
