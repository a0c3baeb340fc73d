import { formatDiskSize, formatUsage } from '../values/sizes.js';
import { stateColour } from './colour.js';
import type { VmRow } from './data-source.js';
import { DASH, mb, span } from './format.js';
import { type Column, Table } from './table.js';

export const VM_SORTS = ['user', 'vm', 'plan', 'state', 'cpu', 'memory', 'uptime'] as const;
export type VmSort = (typeof VM_SORTS)[number];

const uptimeMs = (vm: VmRow, now: Date) => (vm.state === 'running' && vm.lastStartedAt ? now.getTime() - Date.parse(vm.lastStartedAt) : -1);

/** VMs in the chosen order (numbers biggest first), then by ref. */
export function sortVms(vms: VmRow[], by: VmSort, now: Date): VmRow[] {
  const key = (vm: VmRow): string | number => {
    switch (by) {
      case 'user':
        return vm.user;
      case 'vm':
        return vm.name;
      case 'plan':
        return vm.plan;
      case 'state':
        return vm.state;
      case 'cpu':
        return -(vm.cpuPercent ?? -1);
      case 'memory':
        return -(vm.memoryUsedBytes ?? -1);
      case 'uptime':
        return -uptimeMs(vm, now);
    }
  };
  return [...vms].sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    if (ka < kb) return -1;
    if (ka > kb) return 1;
    return a.ref.localeCompare(b.ref);
  });
}

/** When berth will stop it on its own: `12m idle`. */
function stopIn(vm: VmRow, now: Date): string {
  if (!vm.nextStop || vm.state !== 'running') return DASH;
  return `${span(Date.parse(vm.nextStop.at) - now.getTime())} ${vm.nextStop.reason === 'lifetime' ? 'life' : vm.nextStop.reason}`;
}

/** The home's use of its quota: `53.4m/64m`, or `no quota`. */
function diskText(vm: VmRow): string {
  if (!vm.diskBytes) return 'no quota';
  return `${vm.diskUsedBytes === null || vm.diskUsedBytes === undefined ? DASH : formatUsage(vm.diskUsedBytes)}/${formatDiskSize(vm.diskBytes)}`;
}

function stateText(vm: VmRow): string {
  // The first screen, drawn from the state file while the engine's answer is on its way.
  if (vm.pending) return '…';
  if (vm.state === 'running' || vm.state === 'creating') return vm.state;
  // Stopped: say why when berth knows.
  return vm.stopReason && vm.state === 'exited' ? `stopped:${vm.stopReason}` : vm.state === 'exited' ? 'stopped' : vm.state;
}

/** The node column (Swarm): the node's hostname, in red with a mark when its engine does not answer. */
const NODE_COLUMN: Column<VmRow> = {
  title: 'NODE',
  width: 8,
  max: 32,
  priority: 8,
  text: (vm) => `${vm.state === 'node-down' ? '✗ ' : ''}${vm.nodeName ?? vm.node ?? DASH}`,
  colour: (vm) => (vm.state === 'node-down' ? 'red' : undefined),
};

/** `nodes`: the VMs run on a Swarm (a NODE column after the VM's name). */
export function vmColumns(now: Date, nodes = false): Column<VmRow>[] {
  return [
    { title: 'USER', width: 8, grow: true, priority: 9, text: (vm) => vm.user },
    { title: 'VM', width: 4, grow: true, priority: 9, text: (vm) => vm.name },
    ...(nodes ? [NODE_COLUMN] : []),
    { title: 'PLAN', width: 8, priority: 5, text: (vm) => vm.plan },
    // 16 cells hold every state but `stopped:maintenance`, which gets its 19 when there is room.
    { title: 'STATE', width: 16, max: 19, priority: 10, text: stateText, colour: (vm) => (vm.pending ? 'gray' : stateColour(vm.state)) },
    { title: 'CPU%', width: 5, align: 'right', priority: 8, text: (vm) => (vm.cpuPercent === null ? DASH : vm.cpuPercent.toFixed(1)) },
    {
      title: 'MEM MB',
      // `16384/16384`
      width: 11,
      align: 'right',
      priority: 7,
      text: (vm) =>
        vm.memoryUsedBytes === null ? `${DASH}/${mb(vm.ramBytes)}` : `${mb(vm.memoryUsedBytes)}/${mb(vm.memoryLimitBytes ?? vm.ramBytes)}`,
    },
    { title: 'DISK', width: 11, align: 'right', priority: 5, text: diskText },
    { title: 'UPTIME', width: 6, align: 'right', priority: 6, text: (vm) => (uptimeMs(vm, now) < 0 ? DASH : span(uptimeMs(vm, now))) },
    { title: 'SSH', width: 3, align: 'right', priority: 4, text: (vm) => (vm.sessions === null ? DASH : String(vm.sessions)) },
    { title: 'STOP IN', width: 10, priority: 3, text: (vm) => stopIn(vm, now) },
  ];
}

export interface VmTableProps {
  vms: VmRow[];
  selected: string | null;
  width: number;
  height: number;
  now: Date;
  /** On Swarm: show each VM's node. */
  nodes?: boolean;
}

export function VmTable({ vms, selected, width, height, now, nodes }: VmTableProps) {
  return (
    <Table
      columns={vmColumns(now, nodes)}
      rows={vms}
      rowKey={(vm) => vm.ref}
      selected={selected}
      width={width}
      height={height}
      empty="no VMs (create one: berth vm create USER)"
    />
  );
}
