import { useCallback, useEffect, useState } from 'react';
import type { StatusLine } from '../actions.js';

export interface Status {
  status: StatusLine | null;
  set: (status: StatusLine) => void;
  /** A key puts away the last outcome (so that problems show again); not an action still running. */
  putAway: () => void;
}

/** The status line: an action running, or its outcome for `statusMs` (or until the next key). */
export function useStatus(statusMs: number): Status {
  const [status, setStatus] = useState<StatusLine | null>(null);

  useEffect(() => {
    if (!status || status.pending) return;
    const timer = setTimeout(() => setStatus((s) => (s === status ? null : s)), statusMs);
    return () => clearTimeout(timer);
  }, [status, statusMs]);

  const set = useCallback((next: StatusLine) => setStatus(next), []);
  const putAway = () => {
    if (status && !status.pending) setStatus(null);
  };
  return { status, set, putAway };
}
