import { useWindowSize } from 'ink';

/** The screen's size: the one given, else the terminal's (following resizes), 80×24 when the output is not a terminal. */
export function useTerminalSize(width?: number, height?: number): { width: number; height: number } {
  const { columns, rows } = useWindowSize();
  return { width: width ?? (columns || 80), height: height ?? (rows || 24) };
}
