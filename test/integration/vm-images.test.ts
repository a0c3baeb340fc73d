import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VmViewSchema } from '../../src/views/vm-view.js';
import { berth, berthJson, ROOT } from '../helpers/cli.js';
import { docker, inspect, unique, type VmHome, vmContainer, vmHome } from '../helpers/docker.js';

let h: VmHome;
const tag = `berth-vm-test-${Math.random().toString(36).slice(2, 7)}:latest`;

beforeAll(async () => {
  await execa('bash', [`${ROOT}/scripts/base-images.sh`, 'bookworm'], { stdio: 'inherit' });
  h = await vmHome();
}, 600_000);
afterAll(async () => {
  await h.cleanup();
  await docker
    .getImage(tag)
    .remove({ force: true })
    .catch(() => undefined);
});

describe('VM images', () => {
  it('builds Dockerfile.vm on a local Debian base, streaming plain progress lines without a terminal', { timeout: 600_000 }, async () => {
    const build = await berth(h.home, ['image', 'build', '--base', 'berth-base:bookworm', '--tag', tag]);
    expect(build.code, build.stderr).toBe(0);
    expect(build.stderr).toMatch(/Step \d+\/\d+ : FROM/);
    expect(build.stdout).toMatch(new RegExp(`Built ${tag.replace(/[.:]/g, '\\$&')} \\(\\d+ MB\\) in [\\d.]+ s`));
    const image = await docker.getImage(tag).inspect();
    expect(image.Config.Labels).toMatchObject({ 'dev.berth.managed': 'true', 'dev.berth.template': 'default' });
    const list = await berthJson<Array<{ tags: string[]; template: string; sizeBytes: number }>>(h.home, ['image', 'list']);
    expect(list.find((i) => i.tags.includes(tag))).toMatchObject({ template: 'default' });
  });

  it('runs a Debian VM: the login user at uid 1000 in a home on the volume, sftp-server, and sudo only on sudo plans', async () => {
    await berth(h.home, ['plan', 'add', 'dev', '--cpu', '1', '--ram', '512m', '--max-vms', '2']);
    await berth(h.home, ['plan', 'add', 'dev-sudo', '--cpu', '1', '--ram', '512m', '--sudo']);
    const plain = unique('d');
    const admin = unique('s');
    await berth(h.home, ['user', 'allow', plain, '--plan', 'dev']);
    await berth(h.home, ['user', 'allow', admin, '--plan', 'dev-sudo']);
    for (const login of [plain, admin]) {
      const vm = VmViewSchema.parse(await berthJson(h.home, ['vm', 'create', login, '--image', tag]));
      expect(vm.state).toBe('running');
    }
    const ready = async (login: string) => {
      for (let i = 0; i < 50; i++) {
        if ((await berth(h.home, ['vm', 'exec', login, '--', 'test', '-f', '/run/berth-ready'])).code === 0) return;
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error('the VM never became ready');
    };
    await ready(plain);
    await ready(admin);
    const who = await berth(h.home, [
      'vm',
      'exec',
      plain,
      '--',
      'bash',
      '-lc',
      'id; echo $HOME; ls /usr/lib/openssh/sftp-server; git --version; python3 --version',
    ]);
    expect(who.code, who.stderr).toBe(0);
    expect(who.stdout).toContain(`uid=1000(${plain}) gid=1000(${plain})`);
    expect(who.stdout).toContain(`/home/${plain}`);
    expect(who.stdout).toContain('/usr/lib/openssh/sftp-server');
    expect((await berth(h.home, ['vm', 'exec', plain, '--', 'sudo', '-n', 'true'])).code).not.toBe(0);
    const sudo = await berth(h.home, ['vm', 'exec', admin, '--', 'sudo', '-n', 'id', '-u']);
    expect(sudo.code, sudo.stderr).toBe(0);
    expect(sudo.stdout).toBe('0');
    expect((await inspect(await vmContainer(admin))).HostConfig.SecurityOpt ?? []).toEqual([]);
  });

  it('stops at once on SIGTERM', async () => {
    const login = unique('t');
    await berth(h.home, ['user', 'allow', login, '--plan', 'dev']);
    await berthJson(h.home, ['vm', 'create', login, '--image', tag]);
    const started = Date.now();
    await berthJson(h.home, ['vm', 'stop', login]);
    // docker stop waits 10 s before SIGKILL; a VM that honours SIGTERM stops long before.
    expect(Date.now() - started).toBeLessThan(8000);
    expect((await inspect(await vmContainer(login))).State.ExitCode).not.toBe(137);
  });

  it('a build whose base cannot be pulled says how to make a local base (scripts/base-images.sh, --base)', async () => {
    // .invalid never resolves, wherever the test runs.
    const build = await berth(h.home, ['image', 'build', '--base', 'registry.invalid/berth/none:1', '--tag', unique('berth-vm-nopull-')]);
    expect(build.code).toBe(1);
    expect(build.stderr).toContain('The base image could not be pulled');
    expect(build.stderr).toContain(`bash ${ROOT}/scripts/base-images.sh bookworm`);
    expect(build.stderr).toContain('berth up --base berth-base:bookworm');
  });

  it('refuses unknown templates and bad tags', async () => {
    const bad = await berth(h.home, ['image', 'build', '--template', 'nope']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('Templates: default, agent, minimal');
    expect((await berth(h.home, ['image', 'build', '--tag', 'Bad Tag'])).code).toBe(2);
  });
});
