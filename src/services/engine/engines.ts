import { LABEL } from '../../docker/labels.js';
import type { DockerRuntime } from '../../docker/runtime.js';
import { vmRef } from '../../domain/lookups.js';
import { BerthError } from '../../errors.js';
import type { NodeDefaults, NodeEngine, State, Vm } from '../../state/schema.js';
import { withDeadline } from './deadline.js';

/**
 * What both backends share about engines and nodes: deadlines, NODE_DOWN, the node-defaults probe.
 * Which backend runs VMs is chosen once, in open.ts; nothing else in berth asks.
 */

/** How long a node's engine has to answer before its VMs count as node-down. */
export const NODE_DEADLINE_MS = 5_000;
export function nodeDown(node: string, detail: string): BerthError {
  return new BerthError(
    'NODE_DOWN',
    `The engine of node ${node} does not answer (${detail}); its VMs cannot be reached now.`,
    'Check the node (docker node ls on the manager) and how berth reaches it: berth node show NODE.',
  );
}

/** The engine answers within `ms`, or NODE_DOWN. */
export async function reachable(runtime: DockerRuntime, node: string, ms = NODE_DEADLINE_MS): Promise<DockerRuntime> {
  await withDeadline(ms, 'answer', () => runtime.version()).catch((err: unknown) => {
    throw nodeDown(node, err instanceof BerthError ? err.message : String(err));
  });
  return runtime;
}

/** What a node's daemon gives every container by default: read from inside a throw-away container. */
export async function probeNodeDefaults(runtime: DockerRuntime, image: string, instanceId: string): Promise<NodeDefaults> {
  const script =
    "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status; printf 'AppArmor:\\t%s\\n' \"$(cat /proc/self/attr/current 2>/dev/null)\"";
  const [host, run] = await Promise.all([
    runtime.hostInfo(),
    runtime.runOnce(
      {
        Image: image,
        Entrypoint: ['/bin/sh'],
        Cmd: ['-c', script],
        User: '65534',
        Labels: { [LABEL.managed]: 'true', [LABEL.instance]: instanceId },
        HostConfig: { NetworkMode: 'none', CapDrop: ['ALL'], AutoRemove: false },
      },
      30_000,
    ),
  ]);
  // Not anchored: the engine's log frame headers may leave a byte before each line.
  const field = (name: string) => new RegExp(`${name}:[ \\t]*([^\\n]*)`).exec(run.output)?.[1]?.trim() ?? '';
  const hasAppArmor = host.securityOptions.some((o) => o.includes('name=apparmor'));
  return {
    noNewPrivileges: field('NoNewPrivs') === '1',
    seccomp: field('Seccomp') === '2',
    apparmor: hasAppArmor ? !['', 'unconfined'].includes(field('AppArmor')) : null,
    checkedAt: new Date().toISOString(),
  };
}

/** What a node lacks of what every VM needs from its daemon, in words (empty: fit). */
export function defaultsMissing(d: NodeDefaults | undefined): string[] {
  if (!d) return ['its daemon defaults were not checked yet'];
  const missing: string[] = [];
  if (!d.noNewPrivileges) missing.push('"no-new-privileges": true in /etc/docker/daemon.json');
  if (!d.seccomp) missing.push('the default seccomp profile (no "seccomp-profile": "unconfined")');
  if (d.apparmor === false) missing.push('the default AppArmor profile (docker-default)');
  return missing;
}

/** How long installing (or checking) berth's rules on a node may take: a few tool containers there. */
export const NODE_FIREWALL_MS = 60_000;

/** The stored engine entry of a node, by id or hostname. */
export function nodeEntry(state: State, nodeId: string): NodeEngine | undefined {
  return state.nodes?.find((n) => n.id === nodeId);
}

/** A VM whose container the engine no longer has. */
export function containerMissing(vm: Pick<Vm, 'user' | 'name'>): BerthError {
  return new BerthError(
    'VM_CONTAINER_MISSING',
    `The container of VM ${vmRef(vm)} is gone from the engine.`,
    'Recreate it (the home is kept): berth vm reconcile --fix',
  );
}
