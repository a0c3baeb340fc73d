import { Box, Text } from 'ink';

/** Choosing a user's new plan: ↑/↓ then Enter. */
export function PlanPicker({ login, plans, current, selected }: { login: string; plans: string[]; current: string; selected: number }) {
  return (
    <Box flexDirection="column" borderStyle="round" paddingX={1} alignSelf="flex-start">
      <Text bold>{`Plan for ${login} (now ${current})`}</Text>
      {plans.map((p, i) => (
        <Text key={p} inverse={i === selected}>{`${i === selected ? '>' : ' '} ${p}`}</Text>
      ))}
      <Text dimColor>↑/↓ choose · Enter set · Esc cancel</Text>
    </Box>
  );
}
