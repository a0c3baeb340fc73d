import { mkdtemp, readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BerthError } from '../../src/errors.js';
import { callDaemon, processAlive } from '../../src/services/control/daemon-control.js';
import { ROUTES, sessionNotFound } from '../../src/services/control/daemon-routes.js';
import { berth, berthJson } from '../helpers/cli.js';
import { daemonLog, state, stopDaemonQuietly, waitFor } from '../helpers/daemon.js';
import { docker, unique, type VmHome, vmContainer, vmHome } from '../helpers/docker.js';

let h: VmHome;
const run = (args: string[], env?: Record<string, string>) => berth(h.home, args, { env });
type Status = {
  running: boolean;
  pid: number;
  components: Array<{ name: string; state: string; detail: string; lastError: string | null }>;
};
const status = async () => JSON.parse((await run(['daemon', 'status', '--json'])).stdout) as Status;
const component = async (name: string) => (await status()).components.find((c) => c.name === name)?.state;

function get(socketPath: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    request({ socketPath, path }, (res) => {
      let body = '';
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolve(body));
    })
      .on('error', reject)
      .end();
  });
}

/** One raw request to the control API: its status and its body as JSON. */
function ask(socketPath: string, method: string, path: string, body?: string): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const headers = body === undefined ? {} : { 'content-type': 'application/json' };
    request({ socketPath, path, method, headers }, (res) => {
      let text = '';
      res.on('data', (c) => {
        text += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }));
    })
      .on('error', reject)
      .end(body);
  });
}

async function newVm(plan = 'basic'): Promise<string> {
  const login = unique('d');
  await run(['user', 'allow', login, '--plan', plan]);
  await berthJson(h.home, ['vm', 'create', login]);
  return login;
}

const running = async (login: string) => (await docker.getContainer(await vmContainer(login)).inspect()).State.Running;

beforeAll(async () => {
  h = await vmHome();
  // These daemons need no SSH gateway (test/integration/ssh-gateway.test.ts has its own); off, it holds no port.
  await berth(h.home, ['config', 'set', 'ssh.enabled', 'off']);
});
afterEach(() => stopDaemonQuietly(h.home));
afterAll(() => h.cleanup());

describe('the daemon process', () => {
  it('starts in the background, answers on its socket, refuses a second start, and stops', async () => {
    const start = await run(['daemon', 'start']);
    expect(start.code, start.stderr).toBe(0);
    expect(start.stdout).toMatch(/berth daemon running: pid \d+, socket .*berth\.sock/);
    // The bots' parts report once their tokens are read, which may be after the socket answers.
    const s = await waitFor('every part past starting', async () => {
      const now = await status();
      return now.components.some((c) => c.name === 'telegram' && c.state !== 'starting') ? now : null;
    });
    expect(s.running).toBe(true);
    expect(Object.fromEntries(s.components.map((c) => [c.name, c.state]))).toMatchObject({
      api: 'running',
      scheduler: 'running',
      events: 'running',
      telegram: 'disabled',
      ssh: 'disabled',
    });
    expect(s.components.find((c) => c.name === 'telegram')).toMatchObject({ detail: 'no token — run berth telegram setup' });
    expect((await run(['daemon', 'status'])).stdout).toMatch(/telegram\s+disabled\s+no token — run berth telegram setup/);
    expect(((await import('node:fs')).statSync(join(h.home, 'berth.sock')).mode & 0o777).toString(8)).toBe('600');
    const again = await run(['daemon', 'start']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`already running (pid ${s.pid})`);
    const metrics = await get(join(h.home, 'berth.sock'), '/metrics');
    expect(metrics).toContain('berth_users{status="allowed"}');
    expect(metrics).toContain('berth_vms');
    expect(metrics).toContain('berth_operations_total');
    expect(metrics).toContain('berth_apps{state="running"} 0');
    expect(metrics).toContain('berth_app_builds_total{outcome="ok"} 0');
    const stop = await run(['daemon', 'stop']);
    expect(stop.stdout).toContain(`Stopped the berth daemon (pid ${s.pid})`);
    const after = await run(['daemon', 'status']);
    expect(after.code).toBe(1);
    expect(after.stdout).toContain('not running');
    expect(await daemonLog(h.home)).toMatch(/"component":"daemon".*"msg":"stopped"/);
  });

  it('comes back after being killed with SIGKILL: the stale pid file and socket are replaced', async () => {
    await run(['daemon', 'start']);
    const { pid } = await status();
    process.kill(pid, 'SIGKILL');
    // Gone, or a zombie where nothing reaps it (a container whose PID 1 is `sleep`).
    await waitFor('the daemon to die', async () => !processAlive(pid));
    const start = await run(['daemon', 'start']);
    expect(start.code, start.stderr).toBe(0);
    expect((await status()).pid).not.toBe(pid);
  });

  it('serves /metrics (and nothing else) on TCP when metrics.listen is set', async () => {
    const port = 20000 + Math.floor(Math.random() * 20000);
    await run(['config', 'set', 'metrics.listen', `127.0.0.1:${port}`]);
    try {
      expect((await run(['daemon', 'start'])).code).toBe(0);
      const metrics = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(await metrics.text()).toContain('berth_users');
      expect((await fetch(`http://127.0.0.1:${port}/status`)).status).toBe(404);
    } finally {
      await run(['config', 'unset', 'metrics.listen']);
    }
  });

  it('writes a systemd unit and says how to enable it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-unit-'));
    const res = JSON.parse((await run(['daemon', 'install', '--user', '--unit-dir', dir, '--json'])).stdout);
    const unit = await readFile(res.unitFile, 'utf8');
    expect(unit).toContain('daemon run');
    expect(unit).toContain(`BERTH_HOME=${h.home}`);
    expect(res.commands).toContain('systemctl --user enable --now berth');
  });

  it('berth up starts what is missing and is idempotent; berth down stops the daemon and leaves VMs running', async () => {
    const login = await newVm();
    const first = JSON.parse((await run(['up', '--json'])).stdout);
    expect(first.daemonStarted).toBe(true);
    const second = JSON.parse((await run(['up', '--json'])).stdout);
    expect(second.daemonStarted).toBe(false);
    expect(second.daemon.pid).toBe(first.daemon.pid);
    expect((await run(['down'])).code).toBe(0);
    expect((await status()).running).toBe(false);
    expect(await running(login)).toBe(true);
    await run(['vm', 'destroy', login, '--yes']);
  });
});

describe('the control API', () => {
  const unknown = '0123456789ab';
  const refusal = (code: string) => ({ code, message: expect.any(String), hint: expect.any(String) });

  it('gives the CLI the BerthError the daemon threw: berth ssh kill of an unknown session says so, exit 1', async () => {
    expect((await run(['daemon', 'start'])).code).toBe(0);
    const kill = await run(['ssh', 'kill', unknown]);
    expect(kill.code).toBe(1);
    expect(kill.stderr).toBe(`Error: There is no open SSH session ${unknown}.\nSee the open sessions with: berth ssh sessions`);
    const json = await run(['ssh', 'kill', unknown, '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stderr)).toEqual({ error: sessionNotFound(unknown).toJSON() });
    // The client rebuilds the daemon's error: same type, code, message and hint.
    const err = await callDaemon(h.home, ROUTES.sshKill, { params: { id: unknown } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).toJSON()).toEqual(sessionNotFound(unknown).toJSON());
    expect((err as BerthError).usage).toBe(false);
  });

  it('answers a bad request body, a bad id and an unknown route with the BerthError JSON and a 4xx status', async () => {
    expect((await run(['daemon', 'start'])).code).toBe(0);
    const socket = join(h.home, 'berth.sock');
    const extra = await ask(socket, 'POST', '/ssh/revalidate', JSON.stringify({ users: ['alice'] }));
    expect(extra).toEqual({ status: 400, json: refusal('BAD_REQUEST') });
    expect((extra.json as { message: string }).message).toContain('body');
    expect(await ask(socket, 'POST', '/ssh/revalidate', '{not json')).toEqual({ status: 400, json: refusal('BAD_REQUEST') });
    expect(await ask(socket, 'POST', '/ssh/revalidate', '{}')).toEqual({ status: 200, json: { closed: 0 } });
    expect(await ask(socket, 'DELETE', '/ssh/sessions/..%2Fetc')).toEqual({ status: 400, json: refusal('INVALID_SESSION_ID') });
    expect(await ask(socket, 'DELETE', `/ssh/sessions/${unknown}`)).toEqual({ status: 404, json: sessionNotFound(unknown).toJSON() });
    expect(await ask(socket, 'GET', '/no/such/route')).toEqual({ status: 404, json: refusal('NOT_FOUND') });
    // Refused, and nothing happened: the daemon still answers.
    expect((await status()).running).toBe(true);
  });

  it('turns no daemon into a BerthError: berth ssh kill says the daemon is not running, exit 1', async () => {
    const kill = await run(['ssh', 'kill', unknown, '--json']);
    expect(kill.code).toBe(1);
    expect(JSON.parse(kill.stderr)).toEqual({
      error: {
        code: 'DAEMON_NOT_RUNNING',
        message: 'The berth daemon is not running (it runs the SSH gateway).',
        hint: 'Start it: berth daemon start',
      },
    });
    const err = await callDaemon(h.home, ROUTES.status, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).code).toBe('DAEMON_NOT_RUNNING');
  });
});

describe('maintenance', () => {
  it('stops running VMs, blocks starts, and restores exactly those VMs when it ends', async () => {
    const a = await newVm();
    const b = await newVm();
    await berthJson(h.home, ['vm', 'stop', b]);
    const on = JSON.parse((await run(['maintenance', 'on', '--reason', 'kernel upgrade', '--json'])).stdout);
    expect(on.changed).toContain(`${a}/main`);
    expect(on.changed).not.toContain(`${b}/main`);
    expect(await running(a)).toBe(false);
    const start = await run(['vm', 'start', b]);
    expect(start.code).toBe(1);
    expect(start.stderr).toContain('maintenance (kernel upgrade)');
    const st = JSON.parse((await run(['maintenance', 'status', '--json'])).stdout);
    expect(st).toMatchObject({ on: true, reason: 'kernel upgrade', source: 'operator' });
    const off = JSON.parse((await run(['maintenance', 'off', '--json'])).stdout);
    expect(off.changed).toEqual([`${a}/main`]);
    expect(await running(a)).toBe(true);
    expect(await running(b)).toBe(false);
    await run(['vm', 'destroy', a, '--yes']);
    await run(['vm', 'destroy', b, '--yes']);
  });

  it('maintenance tick does a due window once, however many run at once, and leaves it when it ends', async () => {
    const login = await newVm();
    const started = new Date(Date.now() - 1000);
    const cron = `${started.getUTCSeconds()} * * * * *`;
    const add = await run(['maintenance', 'schedule', 'add', cron, '--duration', '12s', '--tz', 'UTC', '--reason', 'tick test', '--json']);
    expect(add.code, add.stderr).toBe(0);
    const id = JSON.parse(add.stdout).id;
    const ticks = await Promise.all([run(['maintenance', 'tick', '--json']), run(['maintenance', 'tick', '--json'])]);
    const actions = ticks.flatMap((t) => JSON.parse(t.stdout).actions as string[]);
    expect(actions.filter((a) => a.startsWith(`entered window ${id}`))).toHaveLength(1);
    expect(await running(login)).toBe(false);
    expect(JSON.parse((await run(['maintenance', 'tick', '--json'])).stdout).actions).toEqual([]);
    await new Promise((r) => setTimeout(r, Math.max(0, Math.floor(started.getTime() / 1000) * 1000 + 12_000 - Date.now() + 200)));
    const leave = JSON.parse((await run(['maintenance', 'tick', '--json'])).stdout).actions as string[];
    expect(leave.some((a) => a.startsWith(`left window ${id}`))).toBe(true);
    expect(await running(login)).toBe(true);
    await run(['maintenance', 'schedule', 'remove', id]);
    await run(['vm', 'destroy', login, '--yes']);
  });

  it('the daemon announces, enters and leaves a scheduled window on time', async () => {
    const login = await newVm();
    await run(['daemon', 'start']);
    const start = new Date(Date.now() + 6000);
    const cron = `${start.getUTCSeconds()} ${start.getUTCMinutes()} * * * *`;
    const add = JSON.parse(
      (await run(['maintenance', 'schedule', 'add', cron, '--duration', '4s', '--notify', '3s', '--tz', 'UTC', '--json'])).stdout,
    );
    try {
      await waitFor('the announcement', async () => (await daemonLog(h.home)).includes('"kind":"maintenance-soon"'), 15_000);
      await waitFor('the window to start', async () => (await state(h.home)).maintenance.on, 15_000);
      expect((await state(h.home)).maintenance).toMatchObject({ source: 'schedule', window: add.id });
      await waitFor('the VM to be stopped for it', async () => !(await running(login)), 15_000);
      await waitFor('the window to end', async () => !(await state(h.home)).maintenance.on, 15_000);
      await waitFor('the VM to be back', () => running(login), 15_000);
    } finally {
      await run(['maintenance', 'schedule', 'remove', add.id]);
      await run(['maintenance', 'off']);
    }
    await run(['vm', 'destroy', login, '--yes']);
  });
});

describe('policies and events', () => {
  it('stops an idle VM and says why', async () => {
    const login = await newVm();
    await run(['config', 'set', 'idle-timeout', '2s']);
    await run(['config', 'set', 'idle-check-interval', '1s']);
    try {
      await run(['daemon', 'start']);
      await waitFor('the idle stop', async () => !(await running(login)), 20_000);
      const vm = JSON.parse((await run(['vm', 'show', login, '--json'])).stdout);
      expect(vm.stopReason).toBe('idle');
      expect((await run(['vm', 'show', login])).stdout).toMatch(/Stopped because:\s+idle/);
      expect(await daemonLog(h.home)).toContain('idle for 2s');
      // berth stopped it on purpose: that is no unexpected death.
      expect(await daemonLog(h.home)).not.toContain('"kind":"vm-died"');
    } finally {
      await run(['config', 'unset', 'idle-timeout']);
      await run(['config', 'unset', 'idle-check-interval']);
    }
    await run(['vm', 'destroy', login, '--yes']);
  });

  it('records an OOM kill through the events follower', async () => {
    await run(['plan', 'add', 'tiny-mem', '--cpu', '0.5', '--ram', '16m']);
    const login = await newVm('tiny-mem');
    await run(['daemon', 'start']);
    await waitFor('events to follow', async () => (await component('events')) === 'running');
    await run(['vm', 'exec', login, '--', 'sh', '-c', 'head -c 200m /dev/zero | tail']);
    const recorded = await waitFor(
      'the OOM in the state',
      async () => (await state(h.home)).vms.find((v: { user: string }) => v.user === login)?.oomKilledAt,
    );
    expect(Date.parse(recorded)).toBeGreaterThan(Date.now() - 60_000);
    await waitFor('the owner to be told', async () => (await daemonLog(h.home)).includes('"kind":"vm-oom"'));
    expect(await daemonLog(h.home)).not.toContain('"kind":"vm-died"');
    await run(['vm', 'destroy', login, '--yes']);
  });

  it('survives losing the engine and follows events again when it is back', { timeout: 120_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-proxy-'));
    const proxyPath = join(dir, 'docker.sock');
    const sockets = new Set<Socket>();
    const listen = () =>
      new Promise<Server>((resolve) => {
        const server = createServer((client) => {
          const upstream = connect('/var/run/docker.sock');
          sockets.add(client);
          sockets.add(upstream);
          client.pipe(upstream).pipe(client);
          const drop = () => {
            client.destroy();
            upstream.destroy();
          };
          client.on('error', drop).on('close', drop);
          upstream.on('error', drop).on('close', drop);
        });
        server.listen(proxyPath, () => resolve(server));
      });
    let proxy = await listen();
    const env = { DOCKER_HOST: `unix://${proxyPath}` };
    expect((await run(['daemon', 'start'], env)).code).toBe(0);
    await waitFor('events to follow', async () => (await component('events')) === 'running');
    const closed = new Promise<void>((resolve) => proxy.close(() => resolve()));
    for (const s of sockets) s.destroy();
    await closed;
    await waitFor('events to fail', async () => (await component('events')) === 'failed');
    const failed = (await status()).components.find((c) => c.name === 'events');
    expect(failed?.lastError).toBeTruthy();
    expect((await status()).running).toBe(true);
    proxy = await listen();
    await waitFor('events to follow again', async () => (await component('events')) === 'running', 40_000);
    const closedAgain = new Promise<void>((resolve) => proxy.close(() => resolve()));
    for (const s of sockets) s.destroy();
    await closedAgain;
  });
});
