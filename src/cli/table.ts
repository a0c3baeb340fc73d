import { terminalSafe } from '../values/names.js';

/**
 * A plain text table: a header row and left-aligned columns two spaces apart. Every cell is made
 * terminal-safe: cells often hold what users wrote (commands, key comments, names).
 */
export function table(headers: string[], rows: Array<Array<string | number>>): string {
  const cells = [headers, ...rows.map((row) => row.map((cell) => terminalSafe(String(cell))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  return cells
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
