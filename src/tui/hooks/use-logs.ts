import { useCallback, useEffect, useRef, useState } from 'react';
import type { DataSource } from '../data-source.js';
import { appendLogs, type Logs, openedLogs } from '../logs.js';
import { useMounted } from './use-mounted.js';

/** Log text arriving within this long is drawn in one go. */
const LOG_BATCH_MS = 100;
/** Log text kept while waiting to be drawn (more than the pane can show). */
const MAX_PENDING_LOG = 256 * 1024;
/** Lines read back when a VM's logs pane opens. */
const TAIL_LINES = 200;

export interface LogsPane {
  /** The pane's logs; null while it is closed. */
  logs: Logs | null;
  /** Opens the pane on a VM's logs (closing the one open), following them. */
  open: (ref: string) => Promise<void>;
  close: () => void;
}

/**
 * The logs pane: one VM's logs followed at a time, drawn every LOG_BATCH_MS; its stream is
 * stopped when the pane closes, another opens, or the app goes, and a stream that comes back
 * for a pane no longer open is stopped at once.
 */
export function useLogs(source: DataSource): LogsPane {
  const [logs, setLogs] = useState<Logs | null>(null);
  const stopLogs = useRef<(() => void) | null>(null);
  /** Which opening of the pane is current: a stream that comes back for an older one is stopped. */
  const opening = useRef(0);
  const mounted = useMounted();

  const stop = useCallback(() => {
    opening.current++;
    stopLogs.current?.();
    stopLogs.current = null;
  }, []);

  const close = useCallback(() => {
    stop();
    setLogs(null);
  }, [stop]);

  const open = useCallback(
    async (ref: string) => {
      close();
      const mine = opening.current;
      const current = () => mine === opening.current && mounted.current;
      setLogs(openedLogs(ref));
      // Text is gathered and drawn every LOG_BATCH_MS, not once per chunk.
      let pending = '';
      let timer: NodeJS.Timeout | undefined;
      const flush = () => {
        clearTimeout(timer);
        timer = undefined;
        const text = pending;
        pending = '';
        if (!text || !current()) return;
        setLogs((l) => (l && l.ref === ref ? appendLogs(l, text) : l));
      };
      const append = (text: string) => {
        if (!current()) return;
        pending = (pending + text).slice(-MAX_PENDING_LOG);
        timer ??= setTimeout(flush, LOG_BATCH_MS);
      };
      const ended = (why: string) => {
        flush();
        if (current()) setLogs((l) => (l && l.ref === ref ? { ...l, ended: why } : l));
      };
      try {
        const stopStream = await source.followLogs(ref, TAIL_LINES, append, (error) => ended(error ? `ended: ${error.message}` : 'ended'));
        if (!current()) {
          // Closed, or another VM's logs opened, while this one was being set up.
          clearTimeout(timer);
          stopStream();
          return;
        }
        stopLogs.current = () => {
          clearTimeout(timer);
          stopStream();
        };
      } catch (err) {
        ended((err as Error).message);
      }
    },
    [source, close, mounted],
  );

  useEffect(() => stop, [stop]);

  return { logs, open, close };
}
