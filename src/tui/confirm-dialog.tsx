import { Box, Text } from 'ink';

export interface ConfirmChoice {
  key: string;
  /** Enter answers this too. */
  enter?: boolean;
  label: string;
}

/** A question and the keys that answer it (Esc always cancels). */
export function ConfirmDialog({ title, body, choices }: { title: string; body?: string; choices: ConfirmChoice[] }) {
  return (
    <Box flexDirection="column" borderStyle="round" paddingX={1} alignSelf="flex-start">
      <Text bold>{title}</Text>
      {body ? <Text>{body}</Text> : null}
      {choices.map((c) => (
        <Text key={c.key}>{`[${c.key}${c.enter ? '/Enter' : ''}] ${c.label}`}</Text>
      ))}
      <Text dimColor>[Esc] cancel</Text>
    </Box>
  );
}
