import { type FSWatcher, watch } from 'node:fs';

/**
 * Calls `onChange` (serially, debounced) when a file in `dir` whose name `matches`
 * changes: the daemon's way of reacting to what the CLI wrote.
 */
export function watchDir(
  dir: string,
  matches: (file: string) => boolean,
  onChange: () => Promise<void>,
  onError: (err: unknown) => void,
): { close(): void } {
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> = Promise.resolve();
  let watcher: FSWatcher | null = null;
  const fire = () => {
    timer = null;
    running = running.then(onChange).catch(onError);
  };
  try {
    watcher = watch(dir, (_event, file) => {
      if (file && matches(file.toString()) && !timer) timer = setTimeout(fire, 100);
    });
    watcher.on('error', onError);
  } catch (err) {
    onError(err);
  }
  fire();
  return {
    close: () => {
      if (timer) clearTimeout(timer);
      watcher?.close();
    },
  };
}
