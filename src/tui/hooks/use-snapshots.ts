import { useCallback, useEffect, useRef, useState } from 'react';
import type { DataSource, Snapshot, VmRow } from '../data-source.js';
import { useMounted } from './use-mounted.js';

/** An unchanged snapshot is drawn again after this long (uptimes and countdowns move on). */
const SAME_SNAPSHOT_MS = 10_000;

export interface SnapshotOptions {
  /** Between the end of one read and the start of the next (ms). */
  refreshMs: number;
  /** A first snapshot already on its way: the first read takes it. */
  first?: Promise<Snapshot>;
  /** The state file's part of it (`DataSource.quick`), drawn until the first snapshot is. */
  quick?: Promise<Snapshot>;
  /** A read found nothing new (nothing is drawn again): the live numbers are read as after any snapshot. */
  onUnchanged?: () => void;
  /** A read failed (the screen keeps the last snapshot). */
  onError?: (message: string) => void;
}

export interface Snapshots {
  /** The last snapshot drawn; null until the first comes. */
  snap: Snapshot | null;
  /** The VMs last known (a snapshot whose VMs could not be read keeps the ones before). */
  vms: VmRow[];
  /** Reads a snapshot now (after an action); one read at a time, a read asked meanwhile follows it. */
  refresh: () => Promise<void>;
}

/**
 * berth's state, read from the source every `refreshMs` after the last read ended (a slow read
 * only delays the next: each read is bounded by the source's own deadlines), until unmount; the
 * source is let go (`close`) then. The screen is drawn again only for a change, or every
 * SAME_SNAPSHOT_MS.
 */
export function useSnapshots(source: DataSource, { refreshMs, first, quick, onUnchanged, onError }: SnapshotOptions): Snapshots {
  // One state for both, so that a snapshot is one render.
  const [shown, setShown] = useState<{ snap: Snapshot | null; vms: VmRow[] }>({ snap: null, vms: [] });
  /** What the last snapshot drawn said (without its time), and when it was drawn: an unchanged one is not drawn again. */
  const lastDrawn = useRef({ text: '', at: 0 });
  const firstSnapshot = useRef(first);
  const quickSnapshot = useRef(quick);
  const busy = useRef(false);
  const again = useRef(false);
  const mounted = useMounted();
  // The latest callbacks, without making `refresh` (and so the loop) new at each render.
  const told = useRef({ onUnchanged, onError });
  told.current = { onUnchanged, onError };

  const refresh = useCallback(async (): Promise<void> => {
    if (busy.current) {
      again.current = true;
      return;
    }
    busy.current = true;
    try {
      const early = firstSnapshot.current;
      firstSnapshot.current = undefined;
      const next = await (early ?? source.snapshot());
      if (!mounted.current) return;
      const text = JSON.stringify({ ...next, at: null });
      if (text === lastDrawn.current.text && Date.now() - lastDrawn.current.at < SAME_SNAPSHOT_MS) {
        told.current.onUnchanged?.();
        return;
      }
      lastDrawn.current = { text, at: Date.now() };
      setShown((before) => ({ snap: next, vms: next.vms ?? before.vms }));
    } catch (err) {
      if (mounted.current) told.current.onError?.(`Could not read berth's state: ${(err as Error).message}`);
    } finally {
      busy.current = false;
      if (again.current && mounted.current) {
        again.current = false;
        void refresh();
      }
    }
  }, [source, mounted]);

  // The first screen from the state file alone, unless a whole snapshot was drawn before it came.
  useEffect(() => {
    const early = quickSnapshot.current;
    quickSnapshot.current = undefined;
    early?.then(
      (snap) => {
        if (mounted.current && lastDrawn.current.at === 0) setShown({ snap, vms: snap.vms ?? [] });
      },
      () => undefined,
    );
  }, [mounted]);

  useEffect(() => {
    let live = true;
    let timer: NodeJS.Timeout | undefined;
    const loop = async () => {
      await refresh();
      if (live) timer = setTimeout(loop, refreshMs);
    };
    void loop();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [refresh, refreshMs]);

  useEffect(() => () => source.close?.(), [source]);

  return { snap: shown.snap, vms: shown.vms, refresh };
}
