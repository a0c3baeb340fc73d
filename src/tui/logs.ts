/** A VM's logs as the pane shows them: whole lines, the line still being written, and why the stream ended. */
export interface Logs {
  ref: string;
  lines: string[];
  partial: string;
  ended: string | null;
}

/** Lines kept of a VM's logs (more than a pane can show). */
export const MAX_LOG_LINES = 500;

// biome-ignore lint/suspicious/noControlCharactersInRegex: escape sequences from a VM's output are dropped, not drawn
const CONTROL = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b[@-_]|[\u0000-\u0008\u000b-\u001f\u007f]/g;

/** Text without terminal escape sequences and control characters (newlines and tabs kept). */
export const withoutControl = (text: string) => text.replace(CONTROL, '');

export const openedLogs = (ref: string): Logs => ({ ref, lines: [], partial: '', ended: null });

/** The logs with more text: complete lines are added (the last MAX_LOG_LINES kept), the rest waits for its newline. */
export function appendLogs(logs: Logs, text: string): Logs {
  const parts = (logs.partial + withoutControl(text)).split('\n');
  const partial = parts.pop() ?? '';
  return { ...logs, lines: [...logs.lines, ...parts].slice(-MAX_LOG_LINES), partial };
}
