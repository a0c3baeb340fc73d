import { useCallback } from 'react';
import { type Action, actionLabel, doneStatus, failedStatus, perform, progressStatus, runningStatus, type StatusLine } from '../actions.js';
import type { DataSource } from '../data-source.js';
import { useMounted } from './use-mounted.js';

/**
 * Runs the operator's actions: the status line says it runs, how far it has come, then its
 * outcome (a failure in words, never thrown); the screen is read again after each.
 */
export function useActions(source: DataSource, setStatus: (status: StatusLine) => void, refresh: () => Promise<void>) {
  const mounted = useMounted();
  return useCallback(
    async (action: Action): Promise<void> => {
      const label = actionLabel(action);
      setStatus(runningStatus(label));
      const progress = (text: string) => {
        if (mounted.current) setStatus(progressStatus(label, text));
      };
      try {
        const said = await perform(source, action, progress);
        if (mounted.current) setStatus(doneStatus(label, said));
      } catch (err) {
        if (mounted.current) setStatus(failedStatus(label, err));
      }
      await refresh();
    },
    [source, setStatus, refresh, mounted],
  );
}
