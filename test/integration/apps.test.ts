import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { execa } from 'execa';
import { pack } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import yazl from 'yazl';
import { type DeployInput, deployApp, getApp, removeApp, restartApp } from '../../src/services/apps/apps.js';
import type { Notice } from '../../src/services/core/notify.js';
import { openBerth } from '../../src/services/engine/open.js';
import { setUserSecret } from '../../src/services/secrets/user-secrets.js';
import type { App } from '../../src/state/schema.js';
import { appBaseImages } from '../helpers/app-images.js';
import { berth, ROOT } from '../helpers/cli.js';
import { waitFor } from '../helpers/daemon.js';
import { docker, type VmHome, vmHome } from '../helpers/docker.js';
import { startFakeBotApi } from '../helpers/fake-bot-api.js';
import { startGitServer } from '../helpers/git-http.js';

/*
 * Each source of an app, end to end on the local engine: a small Python bot (test/fixtures/app-bot.py)
 * deployed from files with a requirements list (a wheel from the test's own package index), an
 * archive, a folder of the user's VM, a git repository and an allowed image, then an uploaded
 * `docker save` of it; each long-polls its own stand-in Bot API and answers a message. The index,
 * the git server and the Bot APIs listen on the test network's gateway, reached through
 * network.host-allow as a mirror on the operator's LAN would be.
 */

let h: VmHome;
let gateway: string;
const notices: Notice[] = [];
const ctx = () => openBerth(h.home, { send: async (n) => void notices.push(n) });
const BOT = readFile(join(ROOT, 'test/fixtures/app-bot.py'), 'utf8');
const USER = { id: 990001, username: 'tester' };
const TOKEN_SECRET = 'bot-token';
const servers: Array<{ close: () => Promise<void> | void }> = [];
let index: { port: number; hits: string[] };
let work: string;

async function must(args: string[], input?: string) {
  const run = await berth(h.home, args, input === undefined ? {} : { input });
  if (run.code !== 0) throw new Error(`berth ${args.join(' ')}: ${run.stderr}`);
  return run;
}

/** A wheel of the package `berthping` (PONG = "pong-from-wheel"), made here: no registry is reached. */
async function wheel(): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  zip.addBuffer(Buffer.from('PONG = "pong-from-wheel"\n'), 'berthping/__init__.py');
  zip.addBuffer(Buffer.from('Metadata-Version: 2.1\nName: berthping\nVersion: 1.0\n'), 'berthping-1.0.dist-info/METADATA');
  zip.addBuffer(
    Buffer.from('Wheel-Version: 1.0\nGenerator: berth-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n'),
    'berthping-1.0.dist-info/WHEEL',
  );
  zip.addBuffer(
    Buffer.from(
      'berthping/__init__.py,,\nberthping-1.0.dist-info/METADATA,,\nberthping-1.0.dist-info/WHEEL,,\nberthping-1.0.dist-info/RECORD,,\n',
    ),
    'berthping-1.0.dist-info/RECORD',
  );
  zip.end();
  const chunks: Buffer[] = [];
  for await (const c of zip.outputStream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A PEP 503 "simple" index with one package. */
async function startIndex(host: string): Promise<{ port: number; hits: string[] }> {
  const whl = await wheel();
  const hits: string[] = [];
  const server: Server = createServer((req, res) => {
    hits.push(req.url ?? '');
    if (req.url === '/simple/berthping/') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html><body><a href="/files/berthping-1.0-py3-none-any.whl">berthping-1.0-py3-none-any.whl</a></body></html>');
    } else if (req.url === '/files/berthping-1.0-py3-none-any.whl') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(whl);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  servers.push({ close: () => new Promise<void>((r) => server.close(() => r())) });
  return { port: (server.address() as { port: number }).port, hits };
}

async function tarGz(files: Record<string, string>): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise((r) => p.on('end', r));
  for (const [name, body] of Object.entries(files)) p.entry({ name, mode: 0o644 }, body);
  p.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks));
}

/** A stand-in Bot API for one app's bot, on the gateway. */
async function botApi() {
  const api = await startFakeBotApi({ host: gateway });
  servers.push(api);
  return api;
}

/** Deploys and sees the bot answer a message through its own Bot API. */
async function deployAndAsk(name: string, source: DeployInput['source'], reply: string, extra: Partial<DeployInput> = {}) {
  const api = await botApi();
  const port = new URL(api.apiRoot).port;
  await must(['config', 'set', 'network.host-allow', [...allowed, port].map((p) => `tcp/${p}`).join(',')]);
  allowed.push(port);
  await setUserSecret((await ctx()).store, 'alice', TOKEN_SECRET, api.token);
  const lines: string[] = [];
  const app = await deployApp(
    await ctx(),
    { user: 'alice', name, source, env: [`BOT_API=${api.apiRoot}`, `REPLY=${name}`], secrets: [TOKEN_SECRET], ...extra },
    undefined,
    (l) => lines.push(l),
  );
  expect(app.status).toBe('running');
  api.sendText(USER, `hello ${name}`);
  const answer = await api
    .waitFor((m: { method: string; text?: string }) => m.method === 'sendMessage', { timeoutMs: 60_000 })
    .catch(async (err: Error) => {
      const logs = await docker
        .getContainer(app.containerId as string)
        .logs({ stdout: true, stderr: true, tail: 30 })
        .catch(() => '');
      throw new Error(`${err.message}\napp ${name} output:\n${String(logs)}\nbuild:\n${lines.join('\n')}`);
    });
  expect(answer.text).toBe(`${reply}:${name}:hello ${name}`);
  return { app, api, lines };
}

const allowed: string[] = [];

/** Removes an app as its owner would: its container and its own image go, nothing else of the user's. */
async function removeAndCheck(app: App) {
  await removeApp(await ctx(), `alice/${app.name}`, { role: 'user', login: 'alice', reach: 'own' });
  await expect(docker.getContainer(app.containerId as string).inspect()).rejects.toThrow(/no such container/i);
  if (app.image?.startsWith('berth-app-')) await expect(docker.getImage(app.image).inspect()).rejects.toThrow(/no such image/i);
  await expect(getApp(await ctx(), `alice/${app.name}`)).rejects.toThrow(/no app/);
}

beforeAll(async () => {
  h = await vmHome();
  work = await mkdtemp(join(tmpdir(), 'berth-apps-'));
  const bases = await appBaseImages(h.home);
  await must(['config', 'set', 'apps.python-image', bases.python]);
  await must(['config', 'set', 'apps.node-image', bases.node]);
  await must(['user', 'allow', 'alice']);
  const c = await ctx();
  await (await c.backend()).apps.network(await c.runtime());
  const net = await docker.getNetwork(h.network).inspect();
  gateway = net.IPAM?.Config?.[0]?.Gateway as string;
  index = await startIndex(gateway);
  allowed.push(String(index.port));
  await must(['config', 'set', 'network.host-allow', `tcp/${index.port}`]);
  await must(['config', 'set', 'apps.pip-index-url', `http://${gateway}:${index.port}/simple/`]);
}, 900_000);

afterAll(async () => {
  for (const s of servers) await s.close();
  await rm(work, { recursive: true, force: true });
  await h?.cleanup();
});

describe('apps from each source, end to end', () => {
  it('files with a requirements list: the wheel comes from the configured index; the secret is nowhere but in the process', async () => {
    const { app, api } = await deployAndAsk(
      'files',
      { kind: 'files', files: { 'bot.py': await BOT, 'requirements.txt': 'berthping\n' } },
      'pong-from-wheel',
    );
    expect(index.hits).toContain('/files/berthping-1.0-py3-none-any.whl');
    const inspect = JSON.stringify(await docker.getContainer(app.containerId as string).inspect());
    expect(inspect).not.toContain(api.token);
    expect(await readFile(join(h.home, 'state.json'), 'utf8')).not.toContain(api.token);
    const logs = (await docker.getContainer(app.containerId as string).logs({ stdout: true, stderr: true })).toString();
    expect(logs).toContain('bot started');
    expect(logs).not.toContain(api.token);
    // It runs as the app's user, hardened as a VM is.
    expect(inspect).toContain('"User":"1000:1000"');
    const host = (await docker.getContainer(app.containerId as string).inspect()).HostConfig;
    expect(host.CapDrop).toEqual(['ALL']);
    expect(host.SecurityOpt).toContain('no-new-privileges:true');
    expect(host.Memory).toBe(256 * 1024 ** 2);
    expect(host.PidsLimit).toBe(100);
    expect(host.Mounts ?? []).toEqual([]);

    // A restart gives the secret again (the same container, its stdin opened anew).
    await restartApp(await ctx(), 'alice/files');
    api.sendText(USER, 'after restart');
    const again = await api.waitFor(
      (m: { method: string; text?: string }) => m.method === 'sendMessage' && m.text?.endsWith('after restart'),
      { timeoutMs: 60_000 },
    );
    expect(again.text).toBe('pong-from-wheel:files:after restart');
    // A redeploy replaces it: the new run answers, the old container is gone.
    const replaced = await deployApp(await ctx(), {
      user: 'alice',
      name: 'files',
      source: { kind: 'files', files: { 'bot.py': await BOT, 'requirements.txt': 'berthping\n' } },
      env: [`BOT_API=${api.apiRoot}`, 'REPLY=replaced'],
      secrets: [TOKEN_SECRET],
      replace: true,
    });
    expect(replaced.containerId).not.toBe(app.containerId);
    await expect(docker.getContainer(app.containerId as string).inspect()).rejects.toThrow(/no such container/i);
    api.sendText(USER, 'after redeploy');
    const third = await api.waitFor(
      (m: { method: string; text?: string }) => m.method === 'sendMessage' && m.text?.endsWith('after redeploy'),
      { timeoutMs: 60_000 },
    );
    expect(third.text).toBe('pong-from-wheel:replaced:after redeploy');
    await removeAndCheck(replaced);
  }, 300_000);

  it('an archive (tar.gz and zip)', async () => {
    await removeAndCheck((await deployAndAsk('tgz', { kind: 'archive', data: await tarGz({ 'bot.py': await BOT }) }, 'plain')).app);
    const zip = new yazl.ZipFile();
    zip.addBuffer(Buffer.from(await BOT), 'src/bot.py');
    zip.end();
    const chunks: Buffer[] = [];
    for await (const c of zip.outputStream) chunks.push(c as Buffer);
    const zipped = await deployAndAsk('zip', { kind: 'archive', data: Buffer.concat(chunks) }, 'plain', { entrypoint: 'src/bot.py' });
    await removeAndCheck(zipped.app);
  }, 300_000);

  it("a folder of the user's own VM", async () => {
    await must(['vm', 'create', 'alice']);
    await must(['vm', 'exec', 'alice', '-i', '--', 'sh', '-c', 'mkdir -p ~/mybot && cat > ~/mybot/bot.py'], await BOT);
    await removeAndCheck((await deployAndAsk('fromvm', { kind: 'vm', vm: 'main', path: '~/mybot' }, 'plain')).app);
  }, 300_000);

  it('a git repository and branch, cloned in the build sandbox', async () => {
    const repos = join(work, 'repos');
    const src = join(work, 'src');
    await execa('git', ['init', '-q', '-b', 'release', src]);
    await writeFile(join(src, 'bot.py'), await BOT);
    await writeFile(join(src, 'requirements.txt'), 'berthping\n');
    const git = (args: string[]) => execa('git', ['-C', src, '-c', 'user.email=t@example.org', '-c', 'user.name=t', ...args]);
    await git(['add', '.']);
    await git(['commit', '-qm', 'bot']);
    await execa('git', ['clone', '-q', '--bare', src, join(repos, 'bot.git')]);
    const server = await startGitServer(repos, gateway);
    servers.push(server);
    const port = new URL(server.url('x')).port;
    allowed.push(port);
    const { app } = await deployAndAsk('fromgit', { kind: 'git', url: server.url('bot.git'), branch: 'release' }, 'pong-from-wheel');
    await removeAndCheck(app);
    expect(server.requests.some((r) => r.includes('git-upload-pack'))).toBe(true);
  }, 300_000);

  it('an image the operator allows, and the same image uploaded as a docker save', async () => {
    const { instanceId } = JSON.parse(await readFile(join(h.home, 'state.json'), 'utf8'));
    const tag = `berth-test-appimage-${instanceId}:1`;
    const base = (await getConfig('apps.python-image')).trim();
    const context = pack();
    context.entry({ name: 'Dockerfile' }, `FROM ${base}\nCOPY bot.py /srv/bot.py\nCMD ["python3", "-u", "/srv/bot.py"]\n`);
    context.entry({ name: 'bot.py' }, await BOT);
    context.finalize();
    const build = await docker.buildImage(context as unknown as NodeJS.ReadableStream, {
      t: tag,
      labels: { 'dev.berth.instance': instanceId },
    });
    await new Promise((resolve, reject) => docker.modem.followProgress(build, (err) => (err ? reject(err) : resolve(null))));
    await expect(deployApp(await ctx(), { user: 'alice', name: 'img', source: { kind: 'image', image: tag } })).rejects.toThrow(
      /not one the operator allows/,
    );
    await must(['config', 'set', 'apps.images', 'berth-test-appimage-*']);
    const fromImage = await deployAndAsk('img', { kind: 'image', image: tag }, 'plain');
    // The archive names another image (as a hostile upload would name one berth or another user has).
    const victim = `berth-test-victim-${instanceId}`;
    await docker.getImage(tag).tag({ repo: victim, tag: 'latest' });
    const saved = await docker.getImage(`${victim}:latest`).get();
    const chunks: Buffer[] = [];
    for await (const c of saved) chunks.push(c as Buffer);
    await docker.getImage(`${victim}:latest`).remove();
    const { Readable } = await import('node:stream');
    const { app } = await deployAndAsk('upload', { kind: 'upload', data: Readable.from(Buffer.concat(chunks)) }, 'plain');
    expect(app.image).toMatch(/^berth-app-[0-9a-f]{12}:u/);
    // The upload named itself nothing: the image it loaded carries berth's name, never the archive's.
    const loaded = await docker.getImage(app.image as string).inspect();
    expect(loaded.RepoTags).toContain(app.image);
    await expect(docker.getImage(`${victim}:latest`).inspect()).rejects.toThrow(/no such image/i);
    await removeAndCheck(app);
    // The allowed image is the operator's: removing the app leaves it.
    await removeAndCheck(fromImage.app);
    await docker.getImage(tag).inspect();
  }, 300_000);
});

async function getConfig(key: string): Promise<string> {
  return (await must(['config', 'get', key])).stdout;
}

describe('refusals that change nothing', () => {
  it('a hostile archive is refused with a clear error and no app is made', async () => {
    const before = await readFile(join(h.home, 'state.json'), 'utf8');
    const evil = await tarGz({ '../escape.py': 'print(1)' });
    await expect(deployApp(await ctx(), { user: 'alice', name: 'evil', source: { kind: 'archive', data: evil } })).rejects.toThrow(
      /climbs out/,
    );
    expect(await readFile(join(h.home, 'state.json'), 'utf8')).toBe(before);
    await expect(getApp(await ctx(), 'alice/evil')).rejects.toThrow(/no app/);
    // A secret the owner has not set is refused before any build, changing nothing.
    const files = { kind: 'files' as const, files: { 'main.py': 'print(1)\n' } };
    await expect(deployApp(await ctx(), { user: 'alice', name: 'nosecret', source: files, secrets: ['never-set'] })).rejects.toThrow(
      /has not set the secret "never-set"/,
    );
    expect(await readFile(join(h.home, 'state.json'), 'utf8')).toBe(before);
  });
});

describe('builds run in a sandbox, within limits', () => {
  it('a failed build reports its last lines and keeps nothing', async () => {
    const before = (await readFile(join(h.home, 'state.json'), 'utf8')).length;
    const err = await deployApp(await ctx(), {
      user: 'alice',
      name: 'nosuchdep',
      source: { kind: 'files', files: { 'bot.py': 'print(1)\n', 'requirements.txt': 'no-such-package-anywhere\n' } },
    }).catch((e: Error & { code?: string }) => e);
    expect((err as { code?: string }).code).toBe('APP_BUILD_FAILED');
    expect(String((err as Error).message)).toMatch(/no-such-package-anywhere/i);
    await expect(getApp(await ctx(), 'alice/nosuchdep')).rejects.toThrow(/no app/);
    expect(
      (await docker.listContainers({ all: true, filters: { label: [`dev.berth.instance=${h.instanceId}`, 'dev.berth.build'] } })).length,
    ).toBe(0);
    expect((await readFile(join(h.home, 'state.json'), 'utf8')).length).toBeGreaterThan(before - 1);
  }, 120_000);

  it("a build step cannot reach the host's other ports; it runs on berth's network as the app's user, and one that never ends is killed at the deadline", async () => {
    // A server on the gateway at a port network.host-allow does not open: the build's connection must not arrive.
    let reached = 0;
    const closed = createServer((_req, res) => {
      reached++;
      res.end('reached');
    });
    await new Promise<void>((r) => closed.listen(0, gateway, r));
    servers.push({ close: () => new Promise<void>((r) => closed.close(() => r())) });
    const port = (closed.address() as { port: number }).port;
    const probe = `require("net").connect({host:"${gateway}",port:${port},timeout:3000}).on("connect",()=>{console.log("host: REACHED");process.exit(0)}).on("timeout",()=>{console.log("host: blocked (timeout)");process.exit(0)}).on("error",e=>{console.log("host: blocked ("+e.code+")");process.exit(0)})`;
    const pkg = { name: 'probe', version: '1.0.0', scripts: { postinstall: `id -u && node -e '${probe}'` } };
    const lines: string[] = [];
    const seen = new Set<string>();
    const watch = setInterval(async () => {
      for (const c of await docker
        .listContainers({ filters: { label: [`dev.berth.instance=${h.instanceId}`, 'dev.berth.build'] } })
        .catch(() => []))
        seen.add(Object.keys(c.NetworkSettings?.Networks ?? {}).join(','));
    }, 200);
    try {
      await deployApp(
        await ctx(),
        {
          user: 'alice',
          name: 'probe',
          source: { kind: 'files', files: { 'index.js': 'setInterval(() => {}, 1000);\n', 'package.json': JSON.stringify(pkg) } },
        },
        undefined,
        (l) => lines.push(l),
      );
    } finally {
      clearInterval(watch);
    }
    expect(lines).toContain('1000');
    expect(lines.some((l) => /^host: blocked/.test(l))).toBe(true);
    expect(reached).toBe(0);
    expect([...seen]).toEqual([h.network]);
    // Metadata addresses are checked by reading the rules, never by sending to them: the bridge the
    // build ran on jumps into berth's chain, which refuses them before anything is let through.
    const bridge = (await docker.getNetwork(h.network).inspect()).Options?.['com.docker.network.bridge.name'] as string;
    const v4 = (await execa('iptables-save', ['-t', 'filter'])).stdout.split('\n');
    expect(v4).toContain(`-A DOCKER-USER -i ${bridge} -m comment --comment "berth:${h.instanceId}" -j BERTH-FWD-${h.instanceId}`);
    const fwd = v4.filter((l) => l.startsWith(`-A BERTH-FWD-${h.instanceId} `));
    const metadata = fwd.findIndex((l) => l.includes('-d 169.254.0.0/16 -j REJECT'));
    expect(metadata).toBeGreaterThan(0);
    for (const rule of fwd.slice(0, metadata)) expect(rule).toMatch(/ESTABLISHED|--dport 53 |--ctstate DNAT|-j REJECT/);
    await removeApp(await ctx(), 'alice/probe');

    await must(['config', 'set', 'apps.build-timeout', '10s']);
    try {
      const endless = { name: 'endless', version: '1.0.0', scripts: { postinstall: 'echo waiting forever; sleep 600' } };
      const started = Date.now();
      const err = await deployApp(await ctx(), {
        user: 'alice',
        name: 'endless',
        source: { kind: 'files', files: { 'index.js': '\n', 'package.json': JSON.stringify(endless) } },
      }).catch((e: Error) => e);
      expect((err as { code?: string }).code).toBe('APP_BUILD_TIMEOUT');
      expect((err as Error).message).toContain('waiting forever');
      expect(Date.now() - started).toBeLessThan(60_000);
      expect(
        (await docker.listContainers({ all: true, filters: { label: [`dev.berth.instance=${h.instanceId}`, 'dev.berth.build'] } })).length,
      ).toBe(0);
    } finally {
      await must(['config', 'unset', 'apps.build-timeout']);
    }
  }, 180_000);
});

describe('crashes, with the daemon supervising', () => {
  const ALICE_TG = { id: 990002, username: 'alice' };
  let tg: Awaited<ReturnType<typeof startFakeBotApi>>;

  beforeAll(async () => {
    tg = await startFakeBotApi();
    servers.push(tg);
    for (const args of [
      ['config', 'set', 'telegram.api-root', tg.apiRoot],
      ['config', 'set', 'ssh.enabled', 'off'],
      ['config', 'set', 'web.enabled', 'off'],
      ['config', 'set', 'apps.crash-limit', '2'],
      ['user', 'set', 'alice', '--telegram-id', String(ALICE_TG.id)],
    ])
      await must(args);
    await must(['telegram', 'setup'], `${tg.token}\n`);
    await must(['daemon', 'start']);
  }, 120_000);

  afterAll(async () => {
    await berth(h.home, ['daemon', 'stop']);
  });

  const toAlice = (re: RegExp) => (m: { method: string; chatId?: number; text?: string }) =>
    m.method === 'sendMessage' && m.chatId === ALICE_TG.id && re.test(m.text ?? '');

  it('tells the owner of each crash with the last lines, restarts it with backoff, and past the limit leaves it crashed', async () => {
    const crash = 'import sys\nprint("first line", flush=True)\nprint("about to fail", flush=True)\nsys.exit(3)\n';
    await deployApp(await ctx(), { user: 'alice', name: 'crasher', source: { kind: 'files', files: { 'main.py': crash } } });
    const first = await tg.waitFor(toAlice(/crasher stopped with exit code 3/), { timeoutMs: 60_000 });
    expect(first.text).toContain('about to fail');
    expect(first.text).toMatch(/starts it again in 1 s/);
    const last = await tg.waitFor(toAlice(/crasher .*stays down/s), { timeoutMs: 90_000 });
    expect(last.text).toContain('3 times within an hour');
    const app = await getApp(await ctx(), 'alice/crasher');
    expect(app.status).toBe('crashed');
    expect(app.restarts).toBe(2);
    expect(app.crashes).toHaveLength(3);
    await removeApp(await ctx(), 'alice/crasher');
  }, 240_000);

  it('maintenance stops running apps and starts them again when it ends; a revoked owner has their apps stopped', async () => {
    const app = await deployApp(await ctx(), {
      user: 'alice',
      name: 'keeper',
      source: { kind: 'files', files: { 'main.py': 'import time\nprint("up", flush=True)\ntime.sleep(100000)\n' } },
    });
    const running = async () => (await docker.getContainer(app.containerId as string).inspect()).State.Running;
    expect(await running()).toBe(true);
    await must(['maintenance', 'on', '--reason', 'test']);
    await waitFor(
      'the app stopped for maintenance',
      async () => (await getApp(await ctx(), 'alice/keeper')).stopReason === 'maintenance',
      30_000,
    );
    expect(await running()).toBe(false);
    await must(['maintenance', 'off']);
    await waitFor('the app running again', async () => (await getApp(await ctx(), 'alice/keeper')).status === 'running', 30_000);
    expect(await running()).toBe(true);
    await must(['user', 'revoke', 'alice']);
    await waitFor(
      'the app stopped for the revoked owner',
      async () => (await getApp(await ctx(), 'alice/keeper')).stopReason === 'revoked',
      30_000,
    );
    expect(await running()).toBe(false);
    const removal = await berth(h.home, ['user', 'remove', 'alice']);
    expect(removal.stderr).toMatch(/still has apps/);
    await must(['user', 'allow', 'alice']);
  }, 180_000);

  it('reports an out-of-memory kill as such', async () => {
    const hog = 'print("allocating", flush=True)\nblocks = []\nwhile True:\n    blocks.append(bytearray(16 * 1024 * 1024))\n';
    await deployApp(await ctx(), { user: 'alice', name: 'hog', source: { kind: 'files', files: { 'main.py': hog } } });
    const notice = await tg.waitFor(toAlice(/hog ran out of memory/), { timeoutMs: 60_000 });
    expect(notice.text).toContain('allocating');
  }, 180_000);
});
