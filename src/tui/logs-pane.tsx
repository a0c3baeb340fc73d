import { Box, Text } from 'ink';

/** The last lines of a VM's logs, followed live (or, with `title`, of what else the title names). */
export function LogsPane({
  vm,
  lines,
  height,
  width,
  ended,
  title,
}: {
  vm: string;
  lines: string[];
  height: number;
  width: number;
  ended: string | null;
  title?: string;
}) {
  const shown = lines.slice(-Math.max(1, height - 1));
  return (
    <Box flexDirection="column" height={height}>
      <Text bold inverse wrap="truncate">
        {(title ?? ` logs ${vm} ${ended ? `(${ended})` : '(following; l or Esc closes)'} `).padEnd(width)}
      </Text>
      {shown.map((line, i) => (
        <Text key={i} wrap="truncate">
          {line}
        </Text>
      ))}
    </Box>
  );
}
