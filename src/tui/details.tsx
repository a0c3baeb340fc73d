import { Box, Text } from 'ink';
import type { VmEventEntry } from '../state/schema.js';
import { formatDiskSize, formatUsage } from '../values/sizes.js';
import { stateColour, Tint } from './colour.js';
import type { VmRow } from './data-source.js';
import { DASH, mb, shortTime } from './format.js';

/** Everything berth knows about one VM, and its latest events. */
export function Details({ vm, events, height }: { vm: VmRow; events: VmEventEntry[]; height: number }) {
  const t = (iso: string | null) => (iso ? shortTime(iso) : DASH);
  const rows: Array<[string, string]> = [
    ['plan', `${vm.plan} (${vm.cpu} CPU, ${vm.ram}, ${vm.pids} processes${vm.gpu ? `, GPU ${vm.gpu}` : ''}${vm.sudo ? ', sudo' : ''})`],
    ['image', vm.image],
    [
      'home',
      `${vm.home ?? DASH}: ${vm.diskBytes ? `${vm.diskUsedBytes === null ? DASH : formatUsage(vm.diskUsedBytes)} of ${formatDiskSize(vm.diskBytes)}` : 'no quota'}`,
    ],
    ['outside home', vm.rootfsBytes ? `limit ${formatDiskSize(vm.rootfsBytes)}` : 'no limit'],
    ['container', vm.containerId ?? DASH],
    ['wanted', vm.desired],
    ['created', t(vm.createdAt)],
    ['last started', t(vm.lastStartedAt)],
    ['last stopped', `${t(vm.lastStoppedAt)}${vm.stopReason ? ` (${vm.stopReason})` : ''}`],
    ['last exit code', vm.lastExitCode === null ? DASH : String(vm.lastExitCode)],
    ['OOM killed', t(vm.oomKilledAt)],
    ['next stop', vm.nextStop ? `${t(vm.nextStop.at)} (${vm.nextStop.reason})` : DASH],
    [
      'CPU / memory',
      vm.cpuPercent === null
        ? DASH
        : `${vm.cpuPercent.toFixed(1)} % / ${mb(vm.memoryUsedBytes ?? 0)} of ${mb(vm.memoryLimitBytes ?? 0)} MB`,
    ],
    ['SSH sessions', vm.sessions === null ? DASH : String(vm.sessions)],
    [
      'agent',
      !vm.agents
        ? DASH
        : vm.agents.length === 0
          ? 'none'
          : `${vm.agents.join(', ')}${vm.agentRuns ? ' (a run in progress)' : vm.agentRuns === 0 ? ' (idle)' : ''}`,
    ],
  ];
  const mine = events.filter((e) => e.vm === vm.ref).slice(0, Math.max(0, height - rows.length - 3));
  return (
    <Box flexDirection="column" height={height}>
      <Text bold wrap="truncate">
        {`VM ${vm.ref} `}
        <Tint color={stateColour(vm.state)}>{vm.state}</Tint>
        <Text dimColor>{'   Esc or Enter closes'}</Text>
      </Text>
      {rows.map(([k, v]) => (
        <Text key={k} wrap="truncate">{`  ${k.padEnd(15)}${v}`}</Text>
      ))}
      {mine.length ? <Text underline>latest events</Text> : null}
      {mine.map((e) => (
        <Text key={`${e.at}${e.kind}`} wrap="truncate">{`  ${shortTime(e.at)} ${e.kind.padEnd(16)} ${e.reason}`}</Text>
      ))}
    </Box>
  );
}
