import type { Tab } from './header.js';

/** The selected row after the list changed: the one chosen while it is still listed, else the first (none when empty). */
export function currentKey(keys: readonly string[], chosen: string | null | undefined): string | null {
  return chosen && keys.includes(chosen) ? chosen : (keys[0] ?? null);
}

/** Each tab's selected row as shown. */
export function currentKeys(keysOf: Record<Tab, string[]>, selected: Partial<Record<Tab, string | null>>): Record<Tab, string | null> {
  const out = {} as Record<Tab, string | null>;
  for (const tab of Object.keys(keysOf) as Tab[]) out[tab] = currentKey(keysOf[tab], selected[tab]);
  return out;
}

/**
 * The row `delta` rows away from the current one, kept within the list; `undefined` when the list
 * is empty (nothing to move to, the choice is left as it was).
 */
export function moveSelection(keys: readonly string[], current: string | null, delta: number): string | null | undefined {
  if (keys.length === 0) return undefined;
  const at = Math.max(0, keys.indexOf(current ?? ''));
  return keys[Math.min(keys.length - 1, Math.max(0, at + delta))] ?? null;
}
