import { Box, Text } from 'ink';
import { terminalSafe } from '../values/names.js';
import { Tint } from './colour.js';
import { fit, fitRight } from './format.js';

export interface Column<Row> {
  title: string;
  /** Width in cells (the least when `grow`). */
  width: number;
  /** Widens up to this many cells when there is room, before growing columns get theirs. */
  max?: number;
  /** Takes a share of the room left over. */
  grow?: boolean;
  align?: 'left' | 'right';
  /** Columns of lower priority are dropped first when the terminal is narrow. */
  priority: number;
  text: (row: Row) => string;
  colour?: (row: Row) => string | undefined;
}

/** Which columns fit in `width`, and how wide each gets. */
export function layoutColumns<Row>(columns: Column<Row>[], width: number): Array<Column<Row> & { shown: number }> {
  const MARK = 2;
  let kept = [...columns];
  const need = (cols: Column<Row>[]) => MARK + cols.reduce((sum, c) => sum + c.width, 0) + Math.max(0, cols.length - 1);
  while (kept.length > 1 && need(kept) > width) {
    const lowest = kept.reduce((low, c) => (c.priority < low.priority ? c : low));
    kept = kept.filter((c) => c !== lowest);
  }
  let spare = Math.max(0, width - need(kept));
  const widened = new Map<Column<Row>, number>();
  for (const c of kept) {
    const extra = Math.min(spare, Math.max(0, (c.max ?? c.width) - c.width));
    widened.set(c, c.width + extra);
    spare -= extra;
  }
  const growers = kept.filter((c) => c.grow);
  return kept.map((c) => {
    const base = widened.get(c) ?? c.width;
    if (!c.grow) return { ...c, shown: Math.min(base, Math.max(1, width - MARK)) };
    const index = growers.indexOf(c);
    const share = Math.floor(spare / growers.length) + (index < spare % growers.length ? 1 : 0);
    return { ...c, shown: base + share };
  });
}

export interface TableProps<Row> {
  columns: Column<Row>[];
  rows: Row[];
  rowKey: (row: Row) => string;
  selected?: string | null;
  width: number;
  /** Lines for the rows (the title line comes on top). */
  height: number;
  empty?: string;
}

/**
 * Which rows a table `height` lines high shows with row `index` selected: `visible` rows from
 * `first` (one line less when the rest need the `1-20 of 500` line).
 */
export function scrollWindow(count: number, index: number, height: number): { first: number; visible: number } {
  const lines = Math.max(2, height);
  const visible = count > lines ? lines - 1 : lines;
  const first = Math.min(Math.max(0, index - visible + 1), Math.max(0, count - visible));
  return { first, visible };
}

/**
 * A table of fixed-width cells: one line per row, the selected row marked with `>`
 * (and shown inverse), scrolled so that the selected row is always in view.
 */
export function Table<Row>({ columns, rows, rowKey, selected, width, height, empty }: TableProps<Row>) {
  const cols = layoutColumns(columns, width);
  const index = Math.max(
    0,
    rows.findIndex((r) => rowKey(r) === selected),
  );
  const lines = Math.max(2, height);
  const { first, visible } = scrollWindow(rows.length, index, height);
  const shown = rows.slice(first, first + visible);
  const cell = (c: (typeof cols)[number], text: string) => (c.align === 'right' ? fitRight(text, c.shown) : fit(text, c.shown));
  return (
    <Box flexDirection="column" height={lines + 1}>
      <Text bold wrap="truncate">
        {'  '}
        {cols.map((c) => cell(c, c.title)).join(' ')}
      </Text>
      {rows.length === 0 ? <Text dimColor>{`  ${empty ?? 'nothing to show'}`}</Text> : null}
      {shown.map((row) => {
        const key = rowKey(row);
        const isSelected = key === selected;
        return (
          <Text key={key} inverse={isSelected} wrap="truncate">
            {isSelected ? '> ' : '  '}
            {cols.map((c, i) => (
              <Tint key={c.title} color={c.colour?.(row)}>
                {(i > 0 ? ' ' : '') + cell(c, terminalSafe(c.text(row)))}
              </Tint>
            ))}
          </Text>
        );
      })}
      {rows.length > visible ? <Text dimColor>{`  ${first + 1}-${first + shown.length} of ${rows.length}`}</Text> : null}
    </Box>
  );
}
