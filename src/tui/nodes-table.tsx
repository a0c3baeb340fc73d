import type { NodeView } from '../views/node-view.js';
import { stateColour } from './colour.js';
import { DASH, shortSize } from './format.js';
import { type Column, Table } from './table.js';

/** The engine as berth last asked it: `down` when it did not answer within the node deadline. */
const engineText = (n: NodeView) => (n.engineState === 'unchecked' ? '…' : n.engineState);

const COLUMNS: Column<NodeView>[] = [
  { title: 'NODE', width: 12, grow: true, priority: 10, text: (n) => n.hostname },
  { title: 'ROLE', width: 8, priority: 7, text: (n) => (n.leader ? 'leader' : n.role) },
  { title: 'STATE', width: 7, priority: 9, text: (n) => n.state, colour: (n) => stateColour(n.state === 'ready' ? 'running' : n.state) },
  {
    title: 'ENGINE',
    width: 7,
    priority: 9,
    text: engineText,
    colour: (n) => (n.engineState === 'ok' ? 'green' : n.engineState === 'unchecked' ? 'gray' : 'red'),
  },
  { title: 'AVAIL', width: 6, priority: 6, text: (n) => n.availability },
  {
    title: 'DRAINED',
    width: 7,
    priority: 6,
    text: (n) => (n.drained ? 'drained' : DASH),
    colour: (n) => (n.drained ? 'yellow' : undefined),
  },
  { title: 'VMS', width: 3, align: 'right', priority: 8, text: (n) => String(n.vms) },
  // What berth's VMs reserve of the node (plan limits, not live use).
  { title: 'CPU', width: 9, align: 'right', priority: 8, text: (n) => `${n.reserved.cpus}/${n.cpus}` },
  { title: 'RAM', width: 11, align: 'right', priority: 8, text: (n) => `${shortSize(n.reserved.memoryBytes)}/${shortSize(n.memoryBytes)}` },
  {
    title: 'NEW VMS',
    width: 7,
    priority: 5,
    text: (n) => (n.acceptsVms ? 'yes' : 'no'),
    colour: (n) => (n.acceptsVms ? undefined : 'yellow'),
  },
];

export function NodesTable(props: { nodes: NodeView[] | null; selected: string | null; width: number; height: number }) {
  return (
    <Table
      columns={COLUMNS}
      rows={props.nodes ?? []}
      rowKey={(n) => n.id}
      selected={props.selected}
      width={props.width}
      height={props.height}
      empty={
        props.nodes === null
          ? 'local engine: berth runs its VMs on one Docker engine, there are no nodes (berth config set engine swarm on a Swarm manager)'
          : 'no Swarm nodes answered yet'
      }
    />
  );
}
