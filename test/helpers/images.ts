import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { berth, ROOT } from './cli.js';
import { docker, MINIMAL_IMAGE } from './docker.js';

/**
 * A Debian VM image (Dockerfile.vm on the local bookworm base): it has bash, sftp-server, scp,
 * python3 and the VM helper. Tagged by its sources, so that test files share it (and later runs
 * reuse it) until one of them changes; the run's global teardown removes it.
 */
export const DEBIAN_IMAGE = `berth-vm-ssh-test:${createHash('sha256')
  .update(['Dockerfile.vm', 'templates/entrypoint.sh', 'templates/vm-helper.py'].map((f) => readFileSync(join(ROOT, f), 'utf8')).join('\0'))
  .digest('hex')
  .slice(0, 12)}`;

/** Builds DEBIAN_IMAGE with the berth home `home` unless the engine has it. */
export async function debianImage(home: string): Promise<string> {
  const present = await docker
    .getImage(DEBIAN_IMAGE)
    .inspect()
    .catch(() => null);
  if (present) return DEBIAN_IMAGE;
  await execa('bash', [join(ROOT, 'scripts', 'base-images.sh'), 'bookworm'], { stdio: 'inherit' });
  const build = await berth(home, ['image', 'build', '--base', 'berth-base:bookworm', '--tag', DEBIAN_IMAGE]);
  if (build.code !== 0) throw new Error(`building ${DEBIAN_IMAGE} failed: ${build.stderr}`);
  return DEBIAN_IMAGE;
}

/**
 * The agent template (templates/agent: Node.js and the Claude Code CLI, pinned) on DEBIAN_IMAGE,
 * tagged by its sources as DEBIAN_IMAGE is, so that test files and later runs share one build;
 * the run's global teardown removes it.
 */
export const AGENT_IMAGE = `berth-vm-agent-test:${createHash('sha256')
  .update(
    ['Dockerfile.vm', 'templates/entrypoint.sh', 'templates/vm-helper.py', 'templates/agent/Dockerfile', 'templates/agent/packages.json']
      .map((f) => readFileSync(join(ROOT, f), 'utf8'))
      .join('\0'),
  )
  .digest('hex')
  .slice(0, 12)}`;

/** Dockerfile.vm on bookworm under a tag of the agent tests' own (other runs' teardowns remove DEBIAN_IMAGE's tags while this builds on it). */
const AGENT_BASE_IMAGE = AGENT_IMAGE.replace('berth-vm-agent-test:', 'berth-vm-agent-test-base:');

/** Builds AGENT_IMAGE with the berth home `home` unless the engine has it; how long the build took (0: reused). */
export async function agentImage(home: string): Promise<{ tag: string; seconds: number; sizeBytes: number }> {
  const present = await docker
    .getImage(AGENT_IMAGE)
    .inspect()
    .catch(() => null);
  if (present) return { tag: AGENT_IMAGE, seconds: 0, sizeBytes: present.Size };
  const hasBase = await docker
    .getImage(AGENT_BASE_IMAGE)
    .inspect()
    .catch(() => null);
  if (!hasBase) {
    await execa('bash', [join(ROOT, 'scripts', 'base-images.sh'), 'bookworm'], { stdio: 'inherit' });
    const base = await berth(home, ['image', 'build', '--base', 'berth-base:bookworm', '--tag', AGENT_BASE_IMAGE]);
    if (base.code !== 0) throw new Error(`building ${AGENT_BASE_IMAGE} failed: ${base.stderr}`);
  }
  const build = await berth(home, ['image', 'build', '--template', 'agent', '--base', AGENT_BASE_IMAGE, '--tag', AGENT_IMAGE, '--json']);
  if (build.code !== 0) throw new Error(`building ${AGENT_IMAGE} failed: ${build.stderr}`);
  const result = JSON.parse(build.stdout) as { seconds: number; sizeBytes: number };
  return { tag: AGENT_IMAGE, seconds: result.seconds, sizeBytes: result.sizeBytes };
}

/**
 * A berth image (the minimal one, its labels and all) whose container cannot start: its user does
 * not exist, so the runtime refuses to start the process. Tagged by the minimal image's id, so
 * that test files share it; the run's global teardown removes it.
 */
export async function brokenImage(): Promise<string> {
  const base = await docker.getImage(MINIMAL_IMAGE).inspect();
  const tag = `berth-vm-broken-test:${base.Id.replace('sha256:', '').slice(0, 12)}`;
  const present = await docker
    .getImage(tag)
    .inspect()
    .catch(() => null);
  if (present) return tag;
  await execa('docker', ['build', '-q', '-t', tag, '-'], { input: `FROM ${MINIMAL_IMAGE}\nUSER no-such-user\n` });
  return tag;
}
