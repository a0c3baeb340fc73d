import { Box, Text } from 'ink';

export const KEYS: Array<[string, Array<[string, string]>]> = [
  [
    'Everywhere',
    [
      ['1-7, Tab, ←/→', 'switch tab (Nodes: on Swarm only)'],
      ['↑/↓, j/k', 'select'],
      ['/', 'filter the list (Enter keeps it, Esc clears)'],
      ['?', 'this help'],
      ['q, Ctrl-C', 'quit'],
    ],
  ],
  [
    'VMs',
    [
      ['s / x / r', 'start / stop / restart'],
      ['d', 'destroy (asks: k/Enter keeps the home, D deletes it)'],
      ['l', 'logs pane (follows; l or Esc closes)'],
      ['e', 'shell in the VM (back here on exit)'],
      ['Enter', 'details'],
      ['o', 'cycle the sort column'],
    ],
  ],
  [
    'Users',
    [
      ['a / R', 'approve / reject a pending user'],
      ['p', 'change plan'],
      ['v', 'revoke (asks)'],
    ],
  ],
  ['Schedule', [['m', 'maintenance on/off (asks)']]],
  [
    'Apps',
    [
      ['s / x / r', 'start / stop / restart (each asks)'],
      ['', "the pane below shows the selected app's last output"],
    ],
  ],
];

export function HelpOverlay({ width }: { width: number }) {
  return (
    <Box flexDirection="column" width={Math.min(width, 70)}>
      <Text bold>Keys (any key closes)</Text>
      {KEYS.map(([section, keys]) => (
        <Box key={section} flexDirection="column">
          <Text underline>{section}</Text>
          {keys.map(([key, what]) => (
            <Text key={key} wrap="truncate">{`  ${key.padEnd(16)}${what}`}</Text>
          ))}
        </Box>
      ))}
    </Box>
  );
}
