import type Docker from 'dockerode';
import { VM_CAPABILITIES } from './hardening.js';
import { appContainerName, LABEL } from './labels.js';

/** The user apps and builds run as: never root (the shipped bases make it; images get it by number). */
export const APP_UID = '1000:1000';
/** Where an app's code is, in the shipped bases. */
export const APP_DIR = '/app';

/**
 * Runs as the app's PID 1 when it has secrets: reads NAME=value lines from its stdin (the daemon
 * writes them once, after an attach, and closes it) up to an empty line, then execs the app with
 * them in its environment and stdin from /dev/null. The values are never in the container's
 * config (`docker inspect`), only in the process's memory.
 */
export const SECRET_LAUNCHER = 'while IFS= read -r line && [ -n "$line" ]; do export "$line" || exit 111; done; exec "$@" </dev/null';

export interface AppSpecInput {
  appId: string;
  user: string;
  userId: string;
  name: string;
  plan: string;
  instanceId: string;
  image: string;
  network: string;
  resources: { cpu: number; memoryBytes: number; pids: number };
  /** The program and its arguments (the image's entrypoint and command, or berth's). */
  argv: string[];
  workingDir?: string;
  env: Record<string, string>;
  /** It gets secrets on its stdin at start (SECRET_LAUNCHER). */
  secrets: boolean;
  logBytes: number;
}

export function appLabels(input: Pick<AppSpecInput, 'appId' | 'user' | 'userId' | 'plan' | 'instanceId'>): Record<string, string> {
  return {
    [LABEL.managed]: 'true',
    [LABEL.instance]: input.instanceId,
    [LABEL.user]: input.user,
    [LABEL.userId]: input.userId,
    [LABEL.plan]: input.plan,
    [LABEL.app]: input.appId,
  };
}

/** The hardening every app and build container has: a VM's, without sudo, and no mounts of anything. */
function hardened(resources: AppSpecInput['resources'], network: string, logBytes: number): Docker.HostConfig {
  return {
    Init: true,
    Privileged: false,
    CapDrop: ['ALL'],
    CapAdd: VM_CAPABILITIES,
    SecurityOpt: ['no-new-privileges:true'],
    Memory: resources.memoryBytes,
    MemorySwap: resources.memoryBytes,
    NanoCpus: Math.round(resources.cpu * 1e9),
    PidsLimit: resources.pids,
    NetworkMode: network,
    // berth restarts apps itself (backoff, the crash limit, secrets given again).
    RestartPolicy: { Name: 'no' },
    LogConfig: { Type: 'json-file', Config: { 'max-size': String(Math.max(32 * 1024, Math.floor(logBytes / 2))), 'max-file': '2' } },
    Mounts: [],
  };
}

/** The whole `docker create` request of an app. */
export function appContainerSpec(input: AppSpecInput): Docker.ContainerCreateOptions {
  const argv = input.secrets ? ['/bin/sh', '-c', SECRET_LAUNCHER, 'berth-app', ...input.argv] : input.argv;
  return {
    // One container per run of a deploy (the old one stays until the new one has started).
    name: `${appContainerName(input.appId)}-${Date.now().toString(36)}`,
    Image: input.image,
    Hostname: appContainerName(input.appId),
    User: APP_UID,
    Entrypoint: argv.slice(0, 1),
    Cmd: argv.slice(1),
    ...(input.workingDir ? { WorkingDir: input.workingDir } : {}),
    Env: [...Object.entries(input.env).map(([k, v]) => `${k}=${v}`), `BERTH_APP=${input.name}`, `BERTH_USER=${input.user}`],
    Labels: appLabels(input),
    ...(input.secrets ? { OpenStdin: true, StdinOnce: true, AttachStdin: true } : {}),
    HostConfig: hardened(input.resources, input.network, input.logBytes),
  };
}

export interface BuildSpecInput {
  appId: string;
  user: string;
  userId: string;
  plan: string;
  instanceId: string;
  /** The shipped base the build runs in. */
  image: string;
  network: string;
  resources: { cpu: number; memoryBytes: number; pids: number };
  script: string;
  env: Record<string, string>;
}

/** A build: the base image running `script` as the app's user in /app, under the build's limits. */
export function buildContainerSpec(input: BuildSpecInput): Docker.ContainerCreateOptions {
  const labels = appLabels({ ...input });
  delete labels[LABEL.app];
  labels[LABEL.build] = input.appId;
  return {
    name: `berth-build-${input.appId}-${Date.now().toString(36)}`,
    Image: input.image,
    User: APP_UID,
    WorkingDir: APP_DIR,
    Entrypoint: ['/bin/sh', '-c', input.script],
    Cmd: [],
    Env: Object.entries(input.env).map(([k, v]) => `${k}=${v}`),
    Labels: labels,
    HostConfig: hardened(input.resources, input.network, 2 * 1024 ** 2),
  };
}
