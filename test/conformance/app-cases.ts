import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VM_CAPABILITIES } from '../../src/docker/hardening.js';
import { dialApp, userAppRoute } from '../../src/services/access/user-app-web.js';
import type { Berth } from '../../src/services/core/context.js';
import { AppViewSchema } from '../../src/views/app-view.js';
import { waitFor } from '../helpers/daemon.js';
import { unique } from '../helpers/docker.js';
import type { VmHarness } from './harness.js';

/** What the app cases need of a backend besides the VM harness. */
export interface AppHarness {
  /** Makes the Python app base known to berth (config apps.python-image) where it builds. */
  setupApps(): Promise<void>;
  /** The user's app container on whichever engine runs it (with that engine's index), or null. */
  appContainer(login: string): Promise<{ info: Docker.ContainerInspectInfo; engine: number } | null>;
  /** The user's app images (berth's builds) on every engine, by tag. */
  appImages(login: string): Promise<string[]>;
  /** A context on the berth home, as the daemon's (its engines reachable from this process). */
  context(): Berth;
}

/** GET / of an app's port as berth's web server reaches it: its address here, or a relay in its container on another node. */
async function getThroughBerth(ctx: Berth, login: string, name: string, port: number): Promise<string> {
  const state = await ctx.store.read();
  const app = (state.apps ?? []).find((a) => a.user === login && a.name === name);
  if (!app) throw new Error(`no app ${login}/${name}`);
  const route = await userAppRoute(ctx, state, app);
  if (!route) return '';
  const conn: Duplex = route.via === 'address' ? connect({ host: route.address, port }) : await dialApp(ctx, app, port);
  return new Promise<string>((resolve) => {
    let text = '';
    const done = () => resolve(text);
    conn.on('data', (c: Buffer) => {
      text += c.toString();
    });
    conn.on('end', done);
    conn.on('close', done);
    conn.on('error', done);
    setTimeout(() => {
      conn.destroy();
      done();
    }, 10_000).unref();
    conn.write(`GET / HTTP/1.0\r\nHost: app\r\n\r\n`);
  });
}

/**
 * Apps through the engine port, the same cases on every backend that runs processes: a deploy of
 * code makes a hardened container of the app's own on berth's network, placed where the backend
 * puts it; stop, start and restart keep it; remove leaves nothing of it on any engine.
 */
export function appConformance(h: VmHarness & AppHarness): void {
  describe(`app conformance: ${h.name}`, () => {
    let dir = '';
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'berth-app-conf-'));
      await h.setupApps();
    }, 600_000);
    afterAll(() => rm(dir, { recursive: true, force: true }));

    const must = async (args: string[]) => {
      const r = await h.berth(args, { timeoutMs: 300_000 });
      if (r.code !== 0) throw new Error(`berth ${args.join(' ')} (${r.code}): ${r.stderr}`);
      return r;
    };

    it("deploys code as a hardened container of its own on berth's network; stop, start, restart keep it; remove leaves nothing", async () => {
      const login = unique('ap');
      await must(['user', 'allow', login]);
      const file = join(dir, 'main.py');
      await writeFile(file, 'import time\nprint("app up", flush=True)\nwhile True:\n    time.sleep(60)\n');
      const deployed = AppViewSchema.parse(JSON.parse((await must(['app', 'deploy', `${login}/web`, file, '--json'])).stdout));
      expect(deployed.status).toBe('running');

      const found = await h.appContainer(login);
      expect(found).not.toBeNull();
      const { info, engine } = found as NonNullable<typeof found>;
      // With several engines, equal room puts it on a worker: the app base was copied there from the manager.
      if (h.engines > 1) expect(engine).not.toBe(0);
      const host = info.HostConfig;
      expect(info.State.Running).toBe(true);
      expect(info.Config.User).toBe('1000:1000');
      expect(host.Privileged).toBe(false);
      expect(host.CapDrop).toEqual(['ALL']);
      expect((host.CapAdd ?? []).every((c) => VM_CAPABILITIES.includes(c))).toBe(true);
      expect(host.SecurityOpt).toContain('no-new-privileges:true');
      expect(host.Memory).toBe(256 * 2 ** 20);
      expect(host.NanoCpus).toBe(0.5e9);
      expect(host.PidsLimit).toBe(100);
      expect(host.Binds ?? []).toEqual([]);
      expect(host.Mounts ?? []).toEqual([]);
      expect(host.RestartPolicy?.Name).toBe('no');
      expect(Object.keys(info.NetworkSettings.Networks)).toEqual([host.NetworkMode]);
      expect(info.Config.Labels).toMatchObject({ 'dev.berth.user': login, 'dev.berth.instance': h.instanceId() });
      expect(info.Config.Labels?.['dev.berth.app']).toMatch(/^[0-9a-f]{12}$/);

      await waitFor(
        'the app to print its line',
        async () => (await must(['app', 'logs', `${login}/web`, '-n', '5'])).stdout.includes('app up'),
        30_000,
      );

      await must(['app', 'stop', `${login}/web`]);
      expect((await h.appContainer(login))?.info.State.Running).toBe(false);
      await must(['app', 'start', `${login}/web`]);
      const started = await h.appContainer(login);
      expect(started?.info.State.Running).toBe(true);
      expect(started?.info.Id).toBe(info.Id);
      await must(['app', 'restart', `${login}/web`]);
      expect((await h.appContainer(login))?.info.State.Running).toBe(true);
      const shown = AppViewSchema.parse(JSON.parse((await must(['app', 'show', `${login}/web`, '--json'])).stdout));
      expect(shown.status).toBe('running');

      expect((await h.appImages(login)).length).toBe(1);
      await must(['app', 'remove', `${login}/web`]);
      expect(await h.appContainer(login)).toBeNull();
      expect(await h.appImages(login)).toEqual([]);
      expect(await h.leftovers(login)).toEqual([]);
    }, 600_000);

    it("an app's HTTP port is reached as the web server reaches it: its address, or a relay in its container on another node", async () => {
      const login = unique('aw');
      await must(['user', 'allow', login]);
      const file = join(dir, 'site.py');
      await writeFile(
        file,
        'import http.server, os\nclass H(http.server.BaseHTTPRequestHandler):\n    def do_GET(self):\n        self.send_response(200)\n        self.end_headers()\n        self.wfile.write(b"hello from the app")\nhttp.server.HTTPServer(("", int(os.environ["PORT"])), H).serve_forever()\n',
      );
      await must(['app', 'deploy', `${login}/site`, file, '--port', '8000', '--json']);
      const ctx = h.context();
      const answer = await waitFor(
        'the app to answer on its port',
        async () => {
          const text = await getThroughBerth(ctx, login, 'site', 8000);
          return text.includes('hello from the app') ? text : null;
        },
        60_000,
      );
      expect(answer).toMatch(/^HTTP\/1\.0 200/);
      // With several engines it ran on a worker: reached through the relay, not an address.
      const state = await ctx.store.read();
      const site = (state.apps ?? []).find((a) => a.user === login && a.name === 'site');
      expect((await userAppRoute(ctx, state, site as NonNullable<typeof site>))?.via).toBe(h.engines > 1 ? 'other-node' : 'address');
      await must(['app', 'remove', `${login}/site`]);
      expect(await h.leftovers(login)).toEqual([]);
    }, 300_000);
  });
}
