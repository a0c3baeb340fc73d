import { type Key, useInput } from 'ink';
import { useEffect, useRef, useState } from 'react';
import { splitKeys } from '../keys.js';

interface QueuedKey {
  input: string;
  key: Key;
  /** Keys of the same input batch (a paste, keys sent together) share a number. */
  batch: number;
}

/**
 * The keys, each handled in a render of its own: keys typed fast (or sent by tmux) arrive
 * together ("jx"), and the second must act on what the first did. `handle` is told the key's
 * batch, so that a key opening a question is not answered by the keys that came with it ("dy" pasted).
 */
export function useKeyQueue(handle: (input: string, key: Key, batch: number) => void): void {
  const batch = useRef({ id: 0, open: false });
  const closing = useRef<NodeJS.Immediate | undefined>(undefined);
  const [queue, setQueue] = useState<QueuedKey[]>([]);

  useInput((input, key) => {
    if (!batch.current.open) {
      batch.current = { id: batch.current.id + 1, open: true };
      closing.current = setImmediate(() => {
        batch.current.open = false;
      });
    }
    const id = batch.current.id;
    setQueue((q) => [...q, ...splitKeys(input, key).map((k) => ({ ...k, batch: id }))]);
  });

  // After each render, the next key (with what that render knows).
  useEffect(() => {
    const next = queue[0];
    if (!next) return;
    setQueue((q) => q.slice(1));
    handle(next.input, next.key, next.batch);
  });

  useEffect(() => () => clearImmediate(closing.current), []);
}
