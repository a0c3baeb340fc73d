import { useCallback, useEffect, useRef, useState } from 'react';
import type { DataSource, LiveVm, VmRow } from '../data-source.js';
import type { StatsWanted } from '../layout.js';
import { liveText } from '../lists.js';
import { useMounted } from './use-mounted.js';

export interface LiveStats {
  /** The last numbers read, by VM ref. */
  live: Map<string, LiveVm>;
  /**
   * What to ask for, as this render lays the screen out, and the VMs known: a change of either
   * (new VMs from a snapshot, other rows on screen) asks again once the render is drawn.
   */
  ask: (wanted: StatsWanted, known: VmRow[]) => void;
  /** Asks now (a snapshot that changed nothing still moves the numbers on). */
  readNow: () => void;
}

/**
 * Live numbers of the running VMs, apart from the snapshots and never holding them up: one read
 * at a time (a read that is slow, or never ends, only delays the numbers; the source bounds each
 * read with its deadline), drawn again only when a number as shown changed.
 */
export function useLiveStats(source: DataSource): LiveStats {
  const [live, setLive] = useState<Map<string, LiveVm>>(new Map());
  const busy = useRef(false);
  const lastText = useRef('');
  const wanted = useRef<StatsWanted>({ visible: [], others: [] });
  const known = useRef<VmRow[]>([]);
  /** What the last read after a render was asked for: the next render asks again only for a change. */
  const asked = useRef<{ source: DataSource; known: VmRow[]; visible: string } | null>(null);
  const mounted = useMounted();

  const readNow = useCallback(() => {
    const { visible, others } = wanted.current;
    if (busy.current || visible.length + others.length === 0) return;
    busy.current = true;
    source
      .liveStats(visible, others)
      .then(
        (numbers) => {
          const text = liveText(numbers);
          if (mounted.current && text !== lastText.current) {
            lastText.current = text;
            setLive(numbers);
          }
        },
        () => undefined,
      )
      .finally(() => {
        busy.current = false;
      });
  }, [source, mounted]);

  const ask = useCallback((next: StatsWanted, vms: VmRow[]) => {
    wanted.current = next;
    known.current = vms;
  }, []);

  // After each render: asked again when the VMs known or the rows on screen changed.
  useEffect(() => {
    const now = { source, known: known.current, visible: wanted.current.visible.join(' ') };
    const before = asked.current;
    if (before && before.source === now.source && before.known === now.known && before.visible === now.visible) return;
    asked.current = now;
    readNow();
  });

  return { live, ask, readNow };
}
