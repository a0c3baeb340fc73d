import { Box, Text } from 'ink';
import type { DaemonStatus } from '../services/control/daemon-routes.js';
import type { HostSummary } from '../services/engine/host.js';
import type { MaintenanceStatus } from '../services/nodes/maintenance.js';
import { Tint } from './colour.js';
import type { EngineReach } from './data-source.js';
import { shortSize, shortTime } from './format.js';

export interface HeaderProps {
  host: HostSummary | null;
  /** `unreachable` is said only when the engine was asked and did not answer. */
  engine: EngineReach;
  daemon: DaemonStatus | null;
  maintenance: MaintenanceStatus | null;
}

const componentMark = (state: string) => (state === 'running' ? '✓' : state === 'disabled' ? '–' : state === 'starting' ? '…' : '✗');

/** Host, engine, daemon and capacity on top; a banner while maintenance is on. */
export function Header({ host, engine, daemon, maintenance }: HeaderProps) {
  const version = host?.engineVersion ?? (engine === 'down' ? 'unreachable' : engine === 'up' ? '?' : '…');
  return (
    <Box flexDirection="column">
      <Text wrap="truncate">
        <Tint color="cyan" bold>
          berth
        </Tint>
        {` ${host?.name ?? '?'} · Docker ${version} · daemon `}
        {daemon?.running ? (
          <>
            <Tint color="green">running</Tint>
            {` ${daemon.components.map((c) => `${c.name} ${componentMark(c.state)}`).join(' ')}`}
          </>
        ) : (
          <Tint color="yellow">not running</Tint>
        )}
      </Text>
      <Text wrap="truncate">
        {host
          ? `Reserved by ${host.reserved.vms} running VM(s): CPU ${host.reserved.cpus}/${host.cpus} · RAM ${shortSize(host.reserved.memoryBytes)}/${shortSize(host.memoryBytes)} (plan limits, not live use)`
          : engine === 'down'
            ? 'host capacity unknown (no Docker engine answers)'
            : 'host capacity: asking the engine…'}
      </Text>
      {maintenance?.on ? (
        <Tint color="white" backgroundColor="red" bold wrap="truncate">
          {` MAINTENANCE${maintenance.reason ? `: ${maintenance.reason}` : ''}${maintenance.until ? ` until ${shortTime(maintenance.until)}` : ''} — VMs cannot be started `}
        </Tint>
      ) : null}
    </Box>
  );
}

export const TABS = ['VMs', 'Users', 'Plans', 'Schedule', 'Events', 'Nodes'] as const;
export type Tab = (typeof TABS)[number];
/** The tabs on one engine (config engine local): no Nodes. */
export const LOCAL_TABS: readonly Tab[] = TABS.filter((t) => t !== 'Nodes');

export function TabBar({ active, hint, tabs = TABS }: { active: Tab; hint: string; tabs?: readonly Tab[] }) {
  return (
    <Text wrap="truncate">
      {tabs.map((tab, i) => (
        <Text key={tab} inverse={tab === active} bold={tab === active}>
          {tab === active ? `[${i + 1} ${tab}]` : ` ${i + 1} ${tab} `}
        </Text>
      ))}
      <Text dimColor>{`  ${hint}`}</Text>
    </Text>
  );
}
