import { userInfo } from 'node:os';
import type { Duplex, Readable } from 'node:stream';
import type Docker from 'dockerode';
import { BerthError } from '../errors.js';
import { abortWithCallSignal, currentCallSignal } from './call-signal.js';
import { loadDockerode } from './dockerode-loader.js';
import { knownHostVerifier } from './known-hosts.js';

/** Where the engine is: DOCKER_HOST wins, then config `docker.host`, then the local socket. */
export function engineAddress(configured: string, env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_HOST || configured || 'unix:///var/run/docker.sock';
}

/** Client certificates of a TLS engine (Docker's DOCKER_CERT_PATH files: ca.pem, cert.pem, key.pem). */
export interface EngineTls {
  ca: string;
  cert: string;
  key: string;
}

function connectionOptions(address: string, tls?: EngineTls): Docker.DockerOptions {
  const url = URL.parse(address);
  if (!url) throw new BerthError('INVALID_DOCKER_HOST', `Cannot use Docker host ${address}.`, 'Use unix://, tcp:// or ssh:// addresses.');
  if (url.protocol === 'unix:') return { socketPath: url.pathname };
  if (url.protocol === 'tcp:' && tls) return { protocol: 'https', host: url.hostname, port: Number(url.port || 2376), ...tls };
  if (url.protocol === 'tcp:') return { protocol: 'http', host: url.hostname, port: Number(url.port || 2375) };
  if (url.protocol === 'ssh:') {
    return {
      protocol: 'ssh',
      host: url.hostname,
      port: Number(url.port || 22),
      // As OpenSSH: the local user's name when the address names none.
      username: decodeURIComponent(url.username) || userInfo().username,
      // The host's key must be in known_hosts, as for OpenSSH and the docker CLI (ssh2 alone takes any key).
      sshOptions: { agent: process.env.SSH_AUTH_SOCK, hostVerifier: knownHostVerifier(url.hostname, Number(url.port || 22)) },
    } as Docker.DockerOptions;
  }
  throw new BerthError('INVALID_DOCKER_HOST', `Cannot use Docker host ${address}.`, 'Use unix://, tcp:// or ssh:// addresses.');
}

export interface ContainerSummary {
  id: string;
  name: string;
  labels: Record<string, string>;
  /** Docker's state: created, running, paused, restarting, exited, dead. */
  state: string;
  image: string;
  /** The exit code of a container that has exited (from the engine's list), else null. */
  exitCode: number | null;
}

export interface ContainerDetails extends Omit<ContainerSummary, 'exitCode'> {
  running: boolean;
  /** Commands running in it through docker exec. */
  execs: number;
  exitCode: number;
  oomKilled: boolean;
  startedAt: string;
  finishedAt: string;
  hostConfig: Docker.HostConfig;
  config: Docker.ContainerInspectInfo['Config'];
  appArmorProfile: string;
}

export interface HostInfo {
  memoryBytes: number;
  cpus: number;
  runtimes: string[];
  name: string;
  /** overlay2, btrfs, zfs, … */
  storageDriver: string;
  /** What the engine applies to every container: name=seccomp,profile=default, name=apparmor, … */
  securityOptions: string[];
  /** What the storage driver sits on (xfs, extfs, …), as the engine says. */
  backingFilesystem: string;
}

export interface ImageSummary {
  id: string;
  tags: string[];
  labels: Record<string, string>;
  size: number;
  created: number;
}

export interface ExecHandle {
  stream: Duplex;
  /**
   * The exit code, once the command has ended. Aborting `signal` stops the waiting (the stream's
   * end, the polling) with an error: a process that outlives its stream is not waited for forever.
   */
  exitCode(signal?: AbortSignal): Promise<number>;
  resize(columns: number, rows: number): Promise<void>;
}

export interface ExecOptions {
  cmd: string[];
  user: string;
  workdir: string;
  env: string[];
  tty: boolean;
  stdin: boolean;
}

export interface VmStats {
  cpuPercent: number;
  memoryUsedBytes: number;
  memoryLimitBytes: number;
  pids: number;
  netRxBytes: number;
  netTxBytes: number;
}

export interface NetworkSummary {
  name: string;
  options: Record<string, string>;
  labels: Record<string, string>;
  /** The Linux bridge interface of the network (what the host firewall matches). */
  bridge: string;
  /** The host's addresses on the network. */
  gateways: string[];
  /** Containers not made by Swarm may join it (a Swarm-scoped network made attachable). */
  attachable: boolean;
}

const BRIDGE_NAME_OPTION = 'com.docker.network.bridge.name';

/** The config-only network that carries a Swarm-scoped VM network's options on each node. */
export const configNetworkName = (network: string) => `${network}-config`;

/** `berth` + 10 hex of the network name's sha256: 15 characters, the Linux limit, and stable. */
export function bridgeNameFor(network: string): string {
  const { createHash } = process.getBuiltinModule('node:crypto');
  return `berth${createHash('sha256').update(network).digest('hex').slice(0, 10)}`;
}

/** The one module that talks to Docker. Every call's failure becomes a BerthError. */
export class DockerRuntime {
  private client: Docker | undefined;

  private constructor(
    docker: Docker | null,
    readonly address: string,
    /** Without a client yet: how to make it on first use, and the engine's socket for direct execs. */
    private readonly direct?: { client: () => Docker; socketPath: string },
  ) {
    if (docker) this.client = abortWithCallSignal(docker);
  }

  /** The dockerode client (made on first use by a runtime opened with `directExec`). */
  get docker(): Docker {
    this.client ??= abortWithCallSignal((this.direct as { client: () => Docker }).client());
    return this.client;
  }

  /**
   * The engine at `configured` (or DOCKER_HOST). With `directExec`, on a unix socket: dockerode is
   * loaded only when a call needs it, and a command run without TTY or stdin (exec) is started on
   * the engine's API directly — a one-shot `berth vm exec` then never loads dockerode (~40 ms).
   */
  static async open(configured = '', options: { directExec?: boolean } = {}): Promise<DockerRuntime> {
    const address = engineAddress(configured);
    // A tcp:// DOCKER_HOST is read by docker-modem itself (with DOCKER_TLS_VERIFY/DOCKER_CERT_PATH).
    // Every other address, an ssh:// DOCKER_HOST too, gets berth's options: for ssh:// that is the
    // known_hosts check, which docker-modem's own reading of the environment never attaches.
    const fromEnv = Boolean(process.env.DOCKER_HOST) && address.startsWith('tcp:');
    if (options.directExec && !fromEnv) {
      const connection = connectionOptions(address);
      if (connection.socketPath) {
        const socketPath = connection.socketPath;
        return new DockerRuntime(null, address, { client: () => new (loadDockerode())(connection), socketPath });
      }
    }
    const Dockerode = loadDockerode();
    const docker = fromEnv ? new Dockerode() : new Dockerode(connectionOptions(address));
    return new DockerRuntime(docker, address);
  }

  /** Another engine than berth's own (a Swarm node's), at `address`, with TLS when given. */
  static at(address: string, tls?: EngineTls): DockerRuntime {
    const Dockerode = loadDockerode();
    return new DockerRuntime(new Dockerode(connectionOptions(address, tls)), address);
  }

  /** For tests and tools that already hold a dockerode client. */
  static wrap(docker: Docker, address: string): DockerRuntime {
    return new DockerRuntime(docker, address);
  }

  private fail(err: unknown, what: string): never {
    throw dockerError(err, what, this.address);
  }

  async version(): Promise<{ version: string; apiVersion: string }> {
    // A runtime for direct execs asks without loading dockerode (openBerth asks every process's engine first).
    const asked =
      this.direct && !this.client
        ? (engineCall(this.direct.socketPath, 'GET', '/version', { statusCodes: { 200: true, 500: 'server error' } }) as Promise<{
            Version: string;
            ApiVersion: string;
          }>)
        : this.docker.version();
    const info = await asked.catch((err) => this.fail(err, 'ask the engine its version'));
    return { version: info.Version, apiVersion: info.ApiVersion };
  }

  async hostInfo(): Promise<HostInfo> {
    const info = await this.docker.info().catch((err) => this.fail(err, 'read the engine info'));
    const status = new Map<string, string>((info.DriverStatus ?? []) as Array<[string, string]>);
    return {
      memoryBytes: info.MemTotal,
      cpus: info.NCPU,
      runtimes: Object.keys(info.Runtimes ?? {}),
      name: info.Name,
      storageDriver: info.Driver ?? '',
      backingFilesystem: status.get('Backing Filesystem') ?? '',
      securityOptions: info.SecurityOptions ?? [],
    };
  }

  // --- images ---

  async image(ref: string): Promise<ImageSummary | null> {
    try {
      const info = await this.docker.getImage(ref).inspect();
      return {
        id: info.Id,
        tags: info.RepoTags ?? [],
        labels: info.Config?.Labels ?? {},
        size: info.Size,
        created: Date.parse(info.Created) / 1000,
      };
    } catch (err) {
      if (statusOf(err) === 404) return null;
      return this.fail(err, `inspect image ${ref}`);
    }
  }

  async images(labels: string[]): Promise<ImageSummary[]> {
    const list = await this.docker.listImages({ filters: { label: labels } }).catch((err) => this.fail(err, 'list images'));
    return list.map((i) => ({ id: i.Id, tags: i.RepoTags ?? [], labels: i.Labels ?? {}, size: i.Size, created: i.Created }));
  }

  /** Builds from a tar stream; each line of build output goes to `onLine`. */
  async buildImage(
    context: Readable | { context: string; src: string[] },
    options: { tag: string; buildArgs: Record<string, string>; labels: Record<string, string> },
    onLine: (line: string) => void,
  ): Promise<string> {
    const stream = await this.docker
      .buildImage(context, { t: options.tag, buildargs: options.buildArgs, labels: options.labels, rm: true, forcerm: true })
      .catch((err) => this.fail(err, `build ${options.tag}`));
    const tail: string[] = [];
    let imageId = '';
    await new Promise<void>((resolve, reject) => {
      this.docker.modem.followProgress(
        stream,
        (err: Error | null) => (err ? reject(err) : resolve()),
        (event: { stream?: string; status?: string; error?: string; aux?: { ID?: string } }) => {
          if (event.error) {
            reject(new BerthError('IMAGE_BUILD_FAILED', `Building ${options.tag} failed: ${event.error.trim()}`, lastLines(tail)));
            return;
          }
          if (event.aux?.ID) imageId = event.aux.ID;
          for (const line of (event.stream ?? event.status ?? '').split('\n')) {
            if (!line.trim()) continue;
            tail.push(line);
            if (tail.length > 8) tail.shift();
            onLine(line);
          }
        },
      );
    });
    return imageId;
  }

  // --- networks and volumes ---

  /** `swarm`: a bridge network of Swarm scope (on a manager): each node makes its own bridge with these options when a VM lands there. */
  async ensureNetwork(name: string, labels: Record<string, string>, scope: 'local' | 'swarm' = 'local'): Promise<void> {
    const isolated = (network: NetworkSummary) => {
      if (network.options['com.docker.network.bridge.enable_icc'] !== 'false') {
        throw new BerthError(
          'NETWORK_NOT_ISOLATED',
          `The Docker network ${name} lets containers reach each other; VMs must not share it.`,
          'Point berth config docker.network at a new name (berth creates it isolated), or remove that network.',
        );
      }
    };
    const existing = await this.network(name);
    if (existing) return isolated(existing);
    // One user's VM must not reach another's; a stable bridge name for the host firewall.
    const options = { 'com.docker.network.bridge.enable_icc': 'false', [BRIDGE_NAME_OPTION]: bridgeNameFor(name) };
    try {
      if (scope === 'swarm') {
        // Swarm drops a bridge network's options: each node takes them from a config-only network of its own.
        await this.ensureConfigNetwork(name, labels);
        // Nothing else may be given with ConfigFrom (not even labels): the config networks carry berth's labels.
        await this.docker.createNetwork({
          Name: name,
          Driver: 'bridge',
          CheckDuplicate: true,
          Scope: 'swarm',
          // Apps' containers (made on a node's engine by berth, not by Swarm) join it too.
          Attachable: true,
          ConfigFrom: { Network: configNetworkName(name) },
        } as Docker.NetworkCreateOptions);
      } else {
        await this.docker.createNetwork({ Name: name, Driver: 'bridge', CheckDuplicate: true, Labels: labels, Options: options });
      }
    } catch (err) {
      // Racing creates on a fresh host: the one that lost finds the network the winner made.
      const made = await this.network(name);
      if (made) isolated(made);
      else if (statusOf(err) !== 409) this.fail(err, `create network ${name}`);
    }
  }

  /**
   * The config-only network a Swarm-scoped VM network takes its options from on this node (made
   * here when missing; refused when it exists without isolation).
   */
  async ensureConfigNetwork(name: string, labels: Record<string, string>): Promise<void> {
    const config = configNetworkName(name);
    const found = await this.network(config);
    if (found) {
      if (found.options['com.docker.network.bridge.enable_icc'] !== 'false') {
        throw new BerthError(
          'NETWORK_NOT_ISOLATED',
          `The Docker network ${config} on ${this.address} lets containers reach each other; VMs must not use it.`,
          'Remove that network there (berth makes it again, isolated).',
        );
      }
      return;
    }
    await this.docker
      .createNetwork({
        Name: config,
        Driver: 'null',
        CheckDuplicate: true,
        Labels: labels,
        ConfigOnly: true,
        Options: { 'com.docker.network.bridge.enable_icc': 'false', [BRIDGE_NAME_OPTION]: bridgeNameFor(name) },
      } as Docker.NetworkCreateOptions)
      .catch(async (err) => {
        if (!(await this.network(config))) this.fail(err, `create network ${config}`);
      });
  }

  async network(name: string): Promise<NetworkSummary | null> {
    try {
      const info = (await this.docker.getNetwork(name).inspect()) as Docker.NetworkInspectInfo & { ConfigFrom?: { Network?: string } };
      // A Swarm-scoped network's options are its config network's (on this node).
      const from = info.ConfigFrom?.Network ? await this.network(info.ConfigFrom.Network) : null;
      const options: Record<string, string> = { ...(info.Options ?? {}), ...(from?.options ?? {}) };
      return {
        name: info.Name,
        options,
        labels: info.Labels ?? {},
        // Networks made before berth named its bridges have Docker's default name.
        bridge: options[BRIDGE_NAME_OPTION] || `br-${String(info.Id).slice(0, 12)}`,
        gateways: (info.IPAM?.Config ?? []).map((c) => c.Gateway ?? '').filter(Boolean),
        attachable: Boolean((info as { Attachable?: boolean }).Attachable),
      };
    } catch (err) {
      if (statusOf(err) === 404) return null;
      return this.fail(err, `inspect network ${name}`);
    }
  }

  async removeNetwork(name: string): Promise<void> {
    await this.docker
      .getNetwork(name)
      .remove()
      .catch((err) => statusOf(err) === 404 || this.fail(err, `remove network ${name}`));
  }

  async volume(name: string): Promise<{ name: string; labels: Record<string, string>; options: Record<string, string> } | null> {
    try {
      const info = await this.docker.getVolume(name).inspect();
      return { name: info.Name, labels: info.Labels ?? {}, options: (info.Options ?? {}) as Record<string, string> };
    } catch (err) {
      if (statusOf(err) === 404) return null;
      return this.fail(err, `inspect volume ${name}`);
    }
  }

  async volumes(labels: string[]): Promise<Array<{ name: string; labels: Record<string, string> }>> {
    const list = await this.docker.listVolumes({ filters: { label: labels } }).catch((err) => this.fail(err, 'list volumes'));
    return (list.Volumes ?? []).map((v) => ({ name: v.Name, labels: v.Labels ?? {} }));
  }

  /** A local volume; with `device`, one that mounts that ext4 filesystem (a home with a quota). */
  async createVolume(name: string, labels: Record<string, string>, device?: string): Promise<void> {
    const options = device ? { DriverOpts: { type: 'ext4', device, o: 'nodev,nosuid,discard' } } : {};
    await this.docker
      .createVolume({ Name: name, Labels: labels, Driver: 'local', ...options })
      .catch((err) => this.fail(err, `create volume ${name}`));
  }

  async removeVolume(name: string): Promise<void> {
    await this.docker
      .getVolume(name)
      .remove()
      .catch((err) => statusOf(err) === 404 || this.fail(err, `remove volume ${name}`));
  }

  // --- containers ---

  async createContainer(options: Docker.ContainerCreateOptions): Promise<string> {
    const container = await this.docker.createContainer(options).catch((err) => this.fail(err, `create container ${options.name}`));
    return container.id;
  }

  /**
   * Runs a one-off command in a new container (no network) and waits for it, up to `timeoutMs`:
   * its exit code and the tail of its output. The container is removed whatever happens.
   */
  async runOnce(options: Docker.ContainerCreateOptions, timeoutMs: number): Promise<{ exitCode: number; output: string }> {
    const container = await this.docker.createContainer(options).catch((err) => this.fail(err, 'create a helper container'));
    try {
      await container.start().catch((err) => this.fail(err, 'start a helper container'));
      const timer = new Promise<never>((_, reject) =>
        setTimeout(
          () => reject(new BerthError('TIMEOUT', `A helper container took longer than ${timeoutMs / 1000} s.`, 'Try again.')),
          timeoutMs,
        ).unref(),
      );
      const result = (await Promise.race([container.wait(), timer])) as { StatusCode: number };
      const logs = (await container.logs({ stdout: true, stderr: true, tail: 20 }).catch(() => Buffer.alloc(0))) as Buffer;
      // biome-ignore lint/suspicious/noControlCharactersInRegex: the stream's frame headers are what is dropped
      return { exitCode: result.StatusCode, output: logs.toString('utf8').replace(/[\x00-\x08]/g, '') };
    } finally {
      await container.remove({ force: true }).catch(() => undefined);
    }
  }

  /**
   * Runs one of the engine host's own programs (`argv`, looked up on the host's PATH) in the
   * host's network namespace, through a throw-away container of `image` that sees the host's
   * root read-only at /host and chroots into it. How berth changes the firewall of a node it
   * reaches only through its Docker API. Its capabilities: NET_ADMIN, NET_RAW, SYS_CHROOT.
   * stdout and stderr come back apart and whole (up to 4 MiB). The container is removed.
   */
  async runHostTool(
    image: string,
    labels: Record<string, string>,
    script: string,
    args: string[],
    timeoutMs: number,
  ): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    const container = await this.docker
      .createContainer({
        Image: image,
        Entrypoint: ['chroot', '/host', '/bin/sh', '-c', script, 'berth-host-tool', ...args],
        Cmd: [],
        User: '0',
        WorkingDir: '/',
        // Nothing of the image's own: its PATH, LD_* or health check do not reach the host's tools.
        Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'],
        Healthcheck: { Test: ['NONE'] },
        Labels: labels,
        NetworkDisabled: false,
        HostConfig: {
          NetworkMode: 'host',
          CapDrop: ['ALL'],
          CapAdd: ['NET_ADMIN', 'NET_RAW', 'SYS_CHROOT'],
          SecurityOpt: ['no-new-privileges'],
          ReadonlyRootfs: true,
          Mounts: [{ Type: 'bind', Source: '/', Target: '/host', ReadOnly: true }],
          // Its output (the node's rules) stays on the node, whatever log driver the node ships logs with.
          LogConfig: { Type: 'json-file', Config: {} },
          AutoRemove: false,
        },
      } as Docker.ContainerCreateOptions)
      .catch((err) => this.fail(err, 'create a host tool container'));
    try {
      await container.start().catch((err) => this.fail(err, 'start a host tool container'));
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new BerthError('TIMEOUT', `A host tool container on ${this.address} took longer than ${timeoutMs / 1000} s.`, 'Try again.'),
            ),
          timeoutMs,
        );
      });
      const result = (await Promise.race([container.wait(), late]).finally(() => clearTimeout(timer))) as { StatusCode: number };
      const logs = (await container.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
      return { exitCode: result.StatusCode, ...demuxFrames(Buffer.isBuffer(logs) ? logs : Buffer.from(String(logs)), 4 * 2 ** 20) };
    } finally {
      await container.remove({ force: true }).catch(() => undefined);
    }
  }

  /** A tar stream of `path` in a container (running or not; its volumes included); `signal` ends the request. */
  async archiveFrom(id: string, path: string, signal?: AbortSignal): Promise<NodeJS.ReadableStream> {
    return this.docker
      .getContainer(id)
      .getArchive({ path, ...(signal ? { abortSignal: signal } : {}) })
      .catch((err) => this.fail(err, `read ${path} of a helper container`));
  }

  /** Unpacks a tar stream at `path` in a container (running or not; into its volumes too); `signal` ends the request. */
  async archiveInto(id: string, path: string, tar: NodeJS.ReadableStream, signal?: AbortSignal): Promise<void> {
    await this.docker
      .getContainer(id)
      .putArchive(tar, { path, ...(signal ? { abortSignal: signal } : {}) })
      .catch((err) => this.fail(err, `write ${path} of a helper container`));
  }

  // --- apps: builds committed to images, images loaded, stdin given once ---

  /** The image's own entrypoint, command, user and working directory (for an app run from it). */
  async imageConfig(ref: string): Promise<{ entrypoint: string[]; cmd: string[]; user: string; workingDir: string; env: string[] } | null> {
    try {
      const info = await this.docker.getImage(ref).inspect();
      const config = info.Config ?? ({} as Docker.ImageInspectInfo['Config']);
      const list = (v: unknown) => (Array.isArray(v) ? (v as string[]) : typeof v === 'string' ? [v] : []);
      return {
        entrypoint: list(config.Entrypoint),
        cmd: list(config.Cmd),
        user: config.User ?? '',
        workingDir: config.WorkingDir ?? '',
        env: config.Env ?? [],
      };
    } catch (err) {
      if (statusOf(err) === 404) return null;
      return this.fail(err, `inspect image ${ref}`);
    }
  }

  /** Makes an image of a (stopped) container, with `config` (Cmd, User, Env, Labels…) over its own. */
  async commitContainer(id: string, repo: string, tag: string, config: Record<string, unknown>): Promise<string> {
    const made = (await this.docker
      .getContainer(id)
      .commit({ _query: { container: id, repo, tag, pause: false }, _body: config })
      .catch((err) => this.fail(err, 'save the build as an image'))) as { Id?: string };
    return made.Id ?? '';
  }

  /** Loads a `docker save` archive; the engine's answer (the names it loaded). */
  async loadImage(tar: NodeJS.ReadableStream, signal?: AbortSignal): Promise<string> {
    const answer = (await this.docker
      .loadImage(tar, { quiet: true, ...(signal ? { abortSignal: signal } : {}) })
      .catch((err) => this.fail(err, 'load the image'))) as NodeJS.ReadableStream;
    let text = '';
    for await (const chunk of answer) text += chunk.toString();
    const errorLine = text
      .split('\n')
      .map((l) => {
        try {
          return (JSON.parse(l) as { error?: string }).error;
        } catch {
          return undefined;
        }
      })
      .find(Boolean);
    if (errorLine)
      throw new BerthError(
        'IMAGE_LOAD_FAILED',
        `The engine could not load the image: ${errorLine}`,
        'Check the archive is a docker save of one image.',
      );
    return text;
  }

  /** The image as a `docker save` stream (to load it on another engine). */
  async exportImage(ref: string): Promise<NodeJS.ReadableStream> {
    return this.docker
      .getImage(ref)
      .get()
      .catch((err) => this.fail(err, `export image ${ref}`));
  }

  async tagImage(ref: string, repo: string, tag: string): Promise<void> {
    await this.docker
      .getImage(ref)
      .tag({ repo, tag })
      .catch((err) => this.fail(err, `tag image ${ref}`));
  }

  /** Removes an image (its other tags stay unless `force`); a missing one is not an error. */
  async removeImage(ref: string, force = false): Promise<void> {
    await this.docker
      .getImage(ref)
      .remove({ force, noprune: false })
      .catch((err) => statusOf(err) === 404 || statusOf(err) === 409 || this.fail(err, `remove image ${ref}`));
  }

  /**
   * Attaches to a created container's stdin (made with OpenStdin and StdinOnce); `give` writes
   * once what its process reads at start, and ends it. Call before startContainer.
   */
  async attachStdin(id: string): Promise<(data: string) => void> {
    const stream = (await this.docker
      .getContainer(id)
      .attach({ stream: true, stdin: true, stdout: false, stderr: false, hijack: true })
      .catch((err) => this.fail(err, "attach to the app's input"))) as NodeJS.ReadWriteStream & { destroy?: () => void };
    stream.on('error', () => undefined);
    return (data: string) => {
      stream.end(data);
    };
  }

  /**
   * Runs a one-off container attached: `stdin` is written to it and closed (a secret passed this
   * way is never in its environment or `docker inspect`), its stdout streamed into `stdout` (with
   * backpressure) and its stderr kept (the last 64 KiB). `signal` kills it. The container is
   * removed whatever happens. Its exit code and stderr.
   */
  async runAttached(
    options: Docker.ContainerCreateOptions,
    io: { stdin: string; stdout: import('node:stream').Writable; signal?: AbortSignal },
  ): Promise<{ exitCode: number; stderr: string }> {
    const { PassThrough, Writable } = await import('node:stream');
    const { demuxExecStream } = await import('./exec-stream.js');
    const container = await this.docker
      .createContainer({
        ...options,
        AttachStdin: true,
        AttachStdout: true,
        AttachStderr: true,
        OpenStdin: true,
        StdinOnce: true,
        Tty: false,
      })
      .catch((err) => this.fail(err, 'create a helper container'));
    let attached: { destroy?: () => void } | null = null;
    // Killing it and dropping the attach stream: a kill is not held up by output nobody reads.
    const killed = () => {
      attached?.destroy?.();
      void container.kill().catch(() => undefined);
    };
    try {
      const stream = (await container
        .attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })
        .catch((err) => this.fail(err, 'attach to a helper container'))) as NodeJS.ReadWriteStream & Duplex;
      stream.on('error', () => undefined);
      attached = stream as unknown as { destroy?: () => void };
      const errTail: Buffer[] = [];
      let errBytes = 0;
      const stderr = new Writable({
        write(chunk: Buffer, _enc, done) {
          errTail.push(chunk);
          errBytes += chunk.length;
          while (errBytes > 64 * 1024 && errTail.length > 1) errBytes -= errTail.shift()?.length ?? 0;
          done();
        },
      });
      const source = new PassThrough();
      stream.pipe(source);
      const drained = demuxExecStream(source, io.stdout, stderr);
      io.signal?.addEventListener('abort', killed, { once: true });
      if (io.signal?.aborted) throw new BerthError('TIMEOUT', 'The helper container was stopped before it started.', 'Try again.');
      await container.start().catch((err) => this.fail(err, 'start a helper container'));
      stream.write(io.stdin);
      // End our half only: the container's output keeps coming on the same connection.
      (stream as unknown as { end?: () => void }).end?.();
      const result = (await container.wait().catch((err) => this.fail(err, 'wait for a helper container'))) as { StatusCode: number };
      await Promise.race([drained, new Promise((r) => setTimeout(r, 5000).unref())]);
      return { exitCode: result.StatusCode, stderr: Buffer.concat(errTail).toString('utf8') };
    } finally {
      io.signal?.removeEventListener('abort', killed);
      await container.remove({ force: true }).catch(() => undefined);
    }
  }

  /** Waits until the container stops: its exit code; `signal` gives up the wait. */
  async waitContainer(id: string, signal?: AbortSignal): Promise<number> {
    const result = (await this.docker
      .getContainer(id)
      .wait(signal ? ({ abortSignal: signal } as object) : {})
      .catch((err) => this.fail(err, 'wait for a container'))) as { StatusCode: number };
    return result.StatusCode;
  }

  /** Freezes every process of a running container (the freezer cgroup), until unpauseContainer. */
  async pauseContainer(id: string): Promise<void> {
    await this.docker
      .getContainer(id)
      .pause()
      .catch((err) => this.fail(err, 'pause a container'));
  }

  async unpauseContainer(id: string): Promise<void> {
    await this.docker
      .getContainer(id)
      .unpause()
      .catch((err) => this.fail(err, 'unpause a container'));
  }

  async killContainer(id: string): Promise<void> {
    await this.docker
      .getContainer(id)
      .kill({ signal: 'SIGKILL' })
      .catch((err) => statusOf(err) === 404 || statusOf(err) === 409 || this.fail(err, 'kill a container'));
  }

  /** `signal` gives up the wait (the engine may still go on). */
  async startContainer(id: string, signal?: AbortSignal): Promise<void> {
    await this.docker
      .getContainer(id)
      .start(signal ? ({ abortSignal: signal } as object) : {})
      .catch((err) => statusOf(err) === 304 || this.fail(err, 'start the VM'));
  }

  async stopContainer(id: string, timeoutSeconds = 10, signal?: AbortSignal): Promise<void> {
    await this.docker
      .getContainer(id)
      .stop({ t: timeoutSeconds, ...(signal ? { abortSignal: signal } : {}) })
      .catch((err) => statusOf(err) === 304 || this.fail(err, 'stop the VM'));
  }

  async restartContainer(id: string, timeoutSeconds = 10): Promise<void> {
    await this.docker
      .getContainer(id)
      .restart({ t: timeoutSeconds })
      .catch((err) => this.fail(err, 'restart the VM'));
  }

  /** `volumes`: its anonymous volumes go too (an app's, made for its image's VOLUME lines); a VM's home never does. */
  async removeContainer(id: string, options: { volumes?: boolean } = {}): Promise<void> {
    await this.docker
      .getContainer(id)
      .remove({ force: true, v: options.volumes ?? false })
      .catch((err) => statusOf(err) === 404 || this.fail(err, 'remove the VM container'));
  }

  async inspectContainer(id: string): Promise<ContainerDetails | null> {
    try {
      const info = await this.docker.getContainer(id).inspect();
      return {
        id: info.Id,
        name: info.Name.replace(/^\//, ''),
        labels: info.Config.Labels ?? {},
        state: info.State.Status,
        image: info.Config.Image,
        running: info.State.Running,
        execs: (info.ExecIDs ?? []).length,
        exitCode: info.State.ExitCode,
        oomKilled: info.State.OOMKilled,
        startedAt: info.State.StartedAt,
        finishedAt: info.State.FinishedAt,
        hostConfig: info.HostConfig,
        config: info.Config,
        appArmorProfile: info.AppArmorProfile ?? '',
      };
    } catch (err) {
      if (statusOf(err) === 404) return null;
      return this.fail(err, 'inspect the VM container');
    }
  }

  /** The container's IP address on a network, or null when it has none (stopped, not attached). */
  async containerAddress(id: string, network: string): Promise<string | null> {
    try {
      const info = await this.docker.getContainer(id).inspect();
      if (!info.State.Running) return null;
      return info.NetworkSettings.Networks?.[network]?.IPAddress || null;
    } catch (err) {
      if (statusOf(err) === 404) return null;
      return this.fail(err, 'inspect the VM container');
    }
  }

  /** What one container wrote outside its volumes, or null when it is gone. */
  async writableSize(id: string): Promise<number | null> {
    try {
      const info = (await this.docker.getContainer(id).inspect({ size: true } as Docker.ContainerInspectOptions)) as { SizeRw?: number };
      return info.SizeRw ?? 0;
    } catch (err) {
      if (statusOf(err) === 404) return null;
      return this.fail(err, 'measure the VM');
    }
  }

  /** What each running container wrote outside its volumes (its writable layer), by id: one engine call. */
  async writableSizes(labels: string[]): Promise<Map<string, number>> {
    const list = await this.docker
      .listContainers({ all: false, size: true, filters: { label: labels } })
      .catch((err) => this.fail(err, 'measure containers'));
    return new Map(list.map((c) => [c.Id, (c as { SizeRw?: number }).SizeRw ?? 0]));
  }

  /** The containers carrying all these labels, running or not: one engine call, whatever their number. */
  async containers(labels: string[]): Promise<ContainerSummary[]> {
    const list = await this.docker
      .listContainers({ all: true, filters: { label: labels } })
      .catch((err) => this.fail(err, 'list containers'));
    return list.map((c) => ({
      id: c.Id,
      name: (c.Names[0] ?? '').replace(/^\//, ''),
      labels: c.Labels ?? {},
      state: c.State,
      image: c.Image,
      exitCode: exitCodeOf(c.Status),
    }));
  }

  /** A live stream of container events (from `since`, which the engine replays). */
  async followEvents(options: { since?: Date; labels: string[]; actions: string[] }): Promise<NodeJS.ReadableStream> {
    return (await this.docker
      .getEvents({
        ...(options.since ? { since: Math.floor(options.since.getTime() / 1000) } : {}),
        filters: { type: ['container'], label: options.labels, event: options.actions },
      })
      .catch((err) => this.fail(err, 'follow events'))) as unknown as NodeJS.ReadableStream;
  }

  /** Events the engine still remembers (it keeps the last few hundred), oldest first. */
  async pastEvents(options: {
    since: Date;
    labels: string[];
    actions: string[];
  }): Promise<Array<{ id: string; action: string; time: Date }>> {
    const stream = (await this.docker
      .getEvents({
        since: Math.floor(options.since.getTime() / 1000),
        // Fractional: a whole-second `until` in the future makes the engine wait for it.
        until: (Date.now() / 1000).toFixed(3) as unknown as number,
        filters: { type: ['container'], label: options.labels, event: options.actions },
      })
      .catch((err) => this.fail(err, 'read past events'))) as unknown as NodeJS.ReadableStream;
    let text = '';
    for await (const chunk of stream) text += chunk.toString();
    return text
      .split('\n')
      .filter((line) => line.trim())
      .map((line) => JSON.parse(line) as { id: string; Action: string; timeNano: number })
      .map((e) => ({ id: e.id, action: e.Action, time: new Date(Math.floor(e.timeNano / 1e6)) }));
  }

  async exec(id: string, options: ExecOptions): Promise<ExecHandle> {
    if (this.direct && !options.tty && !options.stdin) return this.directExec(this.direct.socketPath, id, options);
    const container = this.docker.getContainer(id);
    const exec = await container
      .exec({
        Cmd: options.cmd,
        User: options.user,
        WorkingDir: options.workdir,
        Env: options.env,
        Tty: options.tty,
        AttachStdin: options.stdin,
        AttachStdout: true,
        AttachStderr: true,
      })
      .catch((err) => {
        if (statusOf(err) === 409) throw new BerthError('VM_NOT_RUNNING', 'The VM is not running.', 'Start it first.');
        return this.fail(err, 'run a command in the VM');
      });
    const stream = (await exec
      .start({ hijack: true, stdin: options.stdin, Tty: options.tty })
      .catch((err) => this.fail(err, 'run a command in the VM'))) as Duplex;
    return {
      stream,
      exitCode: (signal?: AbortSignal) =>
        waitForExit(stream, signal, (abort) =>
          exec.inspect({ abortSignal: abort } as Docker.ExecInspectOptions).catch((err) => {
            if (abort?.aborted) throw execAborted();
            return this.fail(err, 'read the exit code');
          }),
        ),
      resize: async (columns, rows) => {
        await exec.resize({ w: columns, h: rows }).catch(() => undefined);
      },
    };
  }

  /**
   * A command run in a container (no TTY, no stdin) through the engine's API on its unix socket,
   * as dockerode does it: create the exec, start it on a hijacked connection, inspect it for the
   * exit code. The same requests, answers and errors, without loading dockerode.
   */
  private async directExec(socketPath: string, id: string, options: ExecOptions): Promise<ExecHandle> {
    const what = 'run a command in the VM';
    const created = (await engineCall(socketPath, 'POST', `/containers/${encodeURIComponent(id)}/exec`, {
      body: {
        Cmd: options.cmd,
        User: options.user,
        WorkingDir: options.workdir,
        Env: options.env,
        Tty: false,
        AttachStdin: false,
        AttachStdout: true,
        AttachStderr: true,
      },
      statusCodes: { 201: true, 404: 'no such container', 409: 'container stopped/paused', 500: 'server error' },
    }).catch((err) => {
      if (statusOf(err) === 409) throw new BerthError('VM_NOT_RUNNING', 'The VM is not running.', 'Start it first.');
      return this.fail(err, what);
    })) as { Id: string };
    const path = `/exec/${encodeURIComponent(created.Id)}`;
    const stream = await engineCall(socketPath, 'POST', `${path}/start`, {
      body: { Detach: false, Tty: false },
      statusCodes: { 200: true, 204: true, 404: 'no such exec', 409: 'container stopped/paused', 500: 'container not running' },
      hijack: true,
    }).catch((err) => this.fail(err, what));
    return {
      stream: stream as Duplex,
      exitCode: (signal?: AbortSignal) =>
        waitForExit(
          stream as Duplex,
          signal,
          (abort) =>
            engineCall(socketPath, 'GET', `${path}/json`, {
              statusCodes: { 200: true, 404: 'no such exec', 500: 'server error' },
              signal: abort,
            }).catch((err) => {
              if (abort?.aborted) throw execAborted();
              return this.fail(err, 'read the exit code');
            }) as Promise<{ Running: boolean; ExitCode: number | null }>,
        ),
      resize: async () => undefined,
    };
  }

  demux(stream: NodeJS.ReadableStream, stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream): void {
    if (this.direct && !this.client) demuxStream(stream, stdout, stderr);
    else this.docker.modem.demuxStream(stream, stdout, stderr);
  }

  async logs(id: string, options: { follow: boolean; tail: number }): Promise<NodeJS.ReadableStream> {
    const container = this.docker.getContainer(id);
    if (options.follow) {
      return container
        .logs({ follow: true, stdout: true, stderr: true, tail: options.tail })
        .catch((err) => this.fail(err, 'read the VM logs'));
    }
    const buffer = await container
      .logs({ follow: false, stdout: true, stderr: true, tail: options.tail })
      .catch((err) => this.fail(err, 'read the VM logs'));
    const { PassThrough } = await import('node:stream');
    const out = new PassThrough();
    out.end(buffer);
    return out;
  }

  /** One sample of a container's numbers (the engine takes two, a second apart, for the CPU). */
  async stats(id: string): Promise<VmStats> {
    const s = (await this.docker
      .getContainer(id)
      .stats({ stream: false })
      .catch((err) => this.fail(err, 'read VM statistics'))) as unknown as Docker.ContainerStats;
    return statsOf(s);
  }

  /** The engine's stream of a container's numbers, one JSON document a second (read them with `statsOf`). */
  async statsStream(id: string): Promise<NodeJS.ReadableStream> {
    return (await this.docker
      .getContainer(id)
      .stats({ stream: true })
      .catch((err) => this.fail(err, 'read VM statistics'))) as unknown as NodeJS.ReadableStream;
  }
}

/** `Exited (137) 5 minutes ago` → 137; null for a container that has not exited. */
function exitCodeOf(status: string | undefined): number | null {
  const found = /^Exited \((-?\d+)\)/.exec(status ?? '');
  return found ? Number(found[1]) : null;
}

/** The numbers of one of the engine's stats documents (CPU from its two samples, memory without the page cache). */
export function statsOf(s: Docker.ContainerStats): VmStats {
  const cpuDelta = s.cpu_stats.cpu_usage.total_usage - s.precpu_stats.cpu_usage.total_usage;
  const systemDelta = (s.cpu_stats.system_cpu_usage ?? 0) - (s.precpu_stats.system_cpu_usage ?? 0);
  const cpus = s.cpu_stats.online_cpus || s.cpu_stats.cpu_usage.percpu_usage?.length || 1;
  const memStats = (s.memory_stats.stats ?? {}) as Record<string, number>;
  const cache = memStats.inactive_file ?? memStats.total_inactive_file ?? 0;
  let rx = 0;
  let tx = 0;
  for (const net of Object.values(s.networks ?? {})) {
    rx += net.rx_bytes;
    tx += net.tx_bytes;
  }
  return {
    cpuPercent: systemDelta > 0 && cpuDelta > 0 ? (cpuDelta / systemDelta) * cpus * 100 : 0,
    memoryUsedBytes: Math.max(0, (s.memory_stats.usage ?? 0) - cache),
    memoryLimitBytes: s.memory_stats.limit ?? 0,
    pids: (s as unknown as { pids_stats?: { current?: number } }).pids_stats?.current ?? 0,
    netRxBytes: rx,
    netTxBytes: tx,
  };
}

function statusOf(err: unknown): number | undefined {
  return (err as { statusCode?: number }).statusCode;
}

function lastLines(lines: string[]): string {
  return lines.length ? `Last build output:\n${lines.join('\n')}` : 'Run the build again with --verbose output for details.';
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOENT', 'ETIMEDOUT', 'EHOSTUNREACH', 'ECONNRESET', 'ENOTFOUND', 'EPIPE']);

export function dockerError(err: unknown, what: string, address: string): BerthError {
  if (err instanceof BerthError) return err;
  const e = err as { code?: string; statusCode?: number; json?: { message?: string }; message?: string };
  if (e.code === 'EACCES') {
    return new BerthError(
      'DOCKER_DENIED',
      `Permission denied on the Docker engine at ${address}.`,
      'Run berth as a user in the docker group, or as root.',
    );
  }
  if (e.code && UNREACHABLE.has(e.code)) {
    return new BerthError(
      'DOCKER_UNREACHABLE',
      `No Docker engine answers at ${address} (${e.code}).`,
      'Start it (sudo systemctl start docker, or dockerd &), or point DOCKER_HOST / berth config docker.host at a running engine.',
    );
  }
  if (address.startsWith('ssh:') && /verification failed/i.test(e.message ?? '')) {
    const url = new URL(address);
    return new BerthError(
      'DOCKER_HOST_KEY_UNKNOWN',
      `The SSH host key of ${url.host} is not in known_hosts (~/.ssh/known_hosts, /etc/ssh/ssh_known_hosts), or it is not the key known for it: berth does not talk to an engine it cannot tell is the right one.`,
      `Connect once with ssh${url.port ? ` -p ${url.port}` : ''} ${url.hostname} and check the key it shows, or add it with ssh-keyscan after checking its fingerprint.`,
    );
  }
  const detail = (e.json?.message ?? e.message ?? String(err)).trim();
  return new BerthError('DOCKER_ERROR', `Docker could not ${what}: ${detail}`, 'See the engine log (journalctl -u docker) for more.');
}

/**
 * The engine's multiplexed log of a container without a TTY, split into stdout and stderr: frames
 * of an 8-byte header (stream 1 or 2, three zero bytes, a big-endian length) and that many bytes.
 * At most `max` bytes of each are kept; a cut frame at the end is kept as far as it goes.
 */
export function demuxFrames(buf: Buffer, max: number): { stdout: string; stderr: string } {
  const streams = { out: { parts: [] as Buffer[], bytes: 0 }, err: { parts: [] as Buffer[], bytes: 0 } };
  let at = 0;
  while (at + 8 <= buf.length) {
    const length = buf.readUInt32BE(at + 4);
    const body = buf.subarray(at + 8, Math.min(buf.length, at + 8 + length));
    const into = buf[at] === 2 ? streams.err : streams.out;
    const kept = body.subarray(0, Math.max(0, max - into.bytes));
    into.parts.push(kept);
    into.bytes += kept.length;
    at += 8 + length;
  }
  return { stdout: Buffer.concat(streams.out.parts).toString('utf8'), stderr: Buffer.concat(streams.err.parts).toString('utf8') };
}

const execAborted = () => new BerthError('ENGINE_TIMEOUT', 'Gave up waiting for the exit code.', 'The command may still run in the VM.');

/**
 * The exit code of an exec whose output is `stream`: once the stream has ended, its inspection
 * (usually done at the first look; a process that outlives its streams is polled less and less).
 * Aborting `signal` stops the waiting with an error.
 */
async function waitForExit(
  stream: Duplex,
  signal: AbortSignal | undefined,
  inspect: (signal?: AbortSignal) => Promise<{ Running: boolean; ExitCode?: number | null }>,
): Promise<number> {
  /** Resolves when `ready` fires or after `ms`; rejects as soon as `signal` is aborted. */
  const until = (ready: ((done: () => void) => () => void) | null, ms?: number) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(execAborted());
      let off: () => void = () => undefined;
      const timer = ms === undefined ? undefined : setTimeout(finish, ms);
      function onAbort() {
        clearTimeout(timer);
        off();
        reject(execAborted());
      }
      function finish() {
        clearTimeout(timer);
        off();
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      if (ready) off = ready(finish);
    });
  if (!stream.readableEnded && !stream.destroyed) {
    await until((done) => {
      stream.once('end', done).once('close', done);
      return () => stream.off('end', done).off('close', done);
    });
  }
  for (let wait = 20; ; wait = Math.min(wait * 2, 1000)) {
    if (signal?.aborted) throw execAborted();
    const info = await inspect(signal);
    if (!info.Running) return info.ExitCode ?? 0;
    await until(null, wait);
  }
}

interface EngineCallOptions {
  body?: unknown;
  /** As docker-modem's: true for the answers that are not errors, else what the error says. */
  statusCodes: Record<number, true | string>;
  /** Upgrade the connection (an exec's start): resolves to the socket. */
  hijack?: boolean;
  signal?: AbortSignal;
}

/**
 * One request to the engine's API on its unix socket, as docker-modem makes it: the JSON answer
 * (or, with `hijack`, the upgraded connection), or an error with the same statusCode, json and
 * message as docker-modem's (what `dockerError` reads). The current call signal applies.
 */
function engineCall(socketPath: string, method: string, path: string, options: EngineCallOptions): Promise<unknown> {
  const http = process.getBuiltinModule('node:http');
  return new Promise((resolve, reject) => {
    const data = options.body === undefined ? undefined : JSON.stringify(options.body);
    const headers: Record<string, string | number> = {};
    if (data !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = Buffer.byteLength(data);
    }
    if (options.hijack) {
      headers.Connection = 'Upgrade';
      headers.Upgrade = 'tcp';
    }
    let settled = false;
    const settle = (err: unknown, value?: unknown) => {
      if (settled) return;
      settled = true;
      if (err) reject(err);
      else resolve(value);
    };
    const req = http.request({ socketPath, method, path, headers, signal: options.signal ?? currentCallSignal() });
    req.on('error', (err) => settle(err));
    req.on('upgrade', (_res, socket, head) => {
      if (head.length > 0) socket.unshift(head);
      settle(null, socket);
    });
    req.on('response', (res) => {
      const known = options.statusCodes[res.statusCode ?? 0];
      // An engine that answers a hijack without upgrading streams the output in the answer.
      if (options.hijack && known === true) return settle(null, res);
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', (err) => settle(err));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: { message?: string } | undefined;
        try {
          json = text ? (JSON.parse(text) as { message?: string }) : undefined;
        } catch {
          json = undefined;
        }
        if (known === true) return settle(null, json);
        const cause = json?.message ?? text;
        const err = Object.assign(new Error(`(HTTP code ${res.statusCode}) ${known || 'unexpected'} - ${cause} `), {
          reason: known,
          statusCode: res.statusCode,
          json,
        });
        settle(err);
      });
    });
    req.end(data);
  });
}

/** docker-modem's demuxStream: an exec's multiplexed output (8-byte frame headers) to stdout and stderr. */
function demuxStream(source: NodeJS.ReadableStream, stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream): void {
  let buffer = Buffer.alloc(0);
  let type: number | null = null;
  let length = 0;
  const take = (end: number) => {
    const out = buffer.subarray(0, end);
    buffer = Buffer.from(buffer.subarray(end));
    return out;
  };
  const onData = (data?: Buffer) => {
    if (data) buffer = Buffer.concat([buffer, data]);
    for (;;) {
      if (type === null) {
        if (buffer.length < 8) return;
        const header = take(8);
        const kind = header.readUInt8(0);
        if (kind !== 0 && kind !== 1 && kind !== 2) {
          // Not multiplexed (or misaligned): the rest goes to stdout as it is.
          stdout.write(Buffer.concat([header, buffer]));
          buffer = Buffer.alloc(0);
          source.removeListener('data', onData);
          source.on('data', (chunk: Buffer) => stdout.write(chunk));
          return;
        }
        type = kind;
        length = header.readUInt32BE(4);
      }
      if (buffer.length < length) return;
      const content = take(length);
      (type === 1 ? stdout : stderr).write(content);
      type = null;
    }
  };
  source.on('data', onData);
}
