import { useEffect, useState } from 'react';
import type { DataSource } from '../data-source.js';
import { withoutControl } from '../logs.js';
import { useMounted } from './use-mounted.js';

/** Lines of an app's output the pane asks for. */
export const APP_LOG_LINES = 50;

/** The last output of an app, as last read: its lines, or why there are none. */
export interface AppLogs {
  ref: string;
  lines: string[];
  /** Why nothing could be read (the app never ran, the engine did not answer); null when it was. */
  problem: string | null;
  /** Still waiting for the first read. */
  reading: boolean;
}

/**
 * The Apps tab's pane: the selected app's last APP_LOG_LINES lines, read again every `everyMs`
 * after the last read ended (one read at a time; the source bounds each with its deadline), until
 * another app is selected, the tab is left (`ref` null) or the app goes.
 */
export function useAppLogs(source: DataSource, ref: string | null, everyMs: number): AppLogs | null {
  const [logs, setLogs] = useState<AppLogs | null>(null);
  const mounted = useMounted();

  useEffect(() => {
    if (!ref) {
      setLogs(null);
      return;
    }
    let live = true;
    let timer: NodeJS.Timeout | undefined;
    setLogs({ ref, lines: [], problem: null, reading: true });
    const read = async () => {
      try {
        const text = await source.appLogs(ref, APP_LOG_LINES);
        const lines = withoutControl(text).split('\n');
        if (lines.at(-1) === '') lines.pop();
        if (live && mounted.current) setLogs({ ref, lines: lines.slice(-APP_LOG_LINES), problem: null, reading: false });
      } catch (err) {
        const e = err as Error & { hint?: string };
        if (live && mounted.current)
          setLogs({ ref, lines: [], problem: `${e.message.split('\n')[0]}${e.hint ? ` ${e.hint}` : ''}`, reading: false });
      }
      if (live) timer = setTimeout(read, everyMs);
    };
    void read();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [source, ref, everyMs, mounted]);

  return logs && logs.ref === ref ? logs : null;
}
