import { Box, Text } from 'ink';
import type { DaemonStatus } from '../services/control/daemon-routes.js';
import type { HostSummary } from '../services/engine/host.js';
import type { MaintenanceStatus } from '../services/nodes/maintenance.js';
import { Tint } from './colour.js';
import type { EngineReach } from './data-source.js';
import { capacityText, componentsText, hostLineText, maintenanceBanner } from './header-text.js';

export interface HeaderProps {
  host: HostSummary | null;
  /** `unreachable` is said only when the engine was asked and did not answer. */
  engine: EngineReach;
  daemon: DaemonStatus | null;
  maintenance: MaintenanceStatus | null;
}

/** Host, engine, daemon and capacity on top; a banner while maintenance is on (the words: header-text.ts). */
export function Header({ host, engine, daemon, maintenance }: HeaderProps) {
  const banner = maintenanceBanner(maintenance);
  return (
    <Box flexDirection="column">
      <Text wrap="truncate">
        <Tint color="cyan" bold>
          berth
        </Tint>
        {hostLineText(host, engine)}
        {daemon?.running ? (
          <>
            <Tint color="green">running</Tint>
            {componentsText(daemon)}
          </>
        ) : (
          <Tint color="yellow">not running</Tint>
        )}
      </Text>
      <Text wrap="truncate">{capacityText(host, engine)}</Text>
      {banner ? (
        <Tint color="white" backgroundColor="red" bold wrap="truncate">
          {banner}
        </Tint>
      ) : null}
    </Box>
  );
}

export const TABS = ['VMs', 'Users', 'Plans', 'Schedule', 'Events', 'Nodes', 'Apps'] as const;
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
