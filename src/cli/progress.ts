import { terminalSafe } from '../values/names.js';

/**
 * Lines of long work (image builds) for a person: one line rewritten in place in a
 * terminal, plain lines otherwise, nothing with --json. Call `done()` at the end.
 */
export function progressLines(json: boolean): { line: (text: string) => void; done: () => void } {
  const live = Boolean(process.stderr.isTTY) && !json;
  return {
    line: (text) => {
      if (json) return;
      if (live) process.stderr.write(`\r\x1b[K${text.slice(0, (process.stderr.columns ?? 80) - 1)}`);
      else process.stderr.write(`${text}\n`);
    },
    done: () => {
      if (live) process.stderr.write('\r\x1b[K');
    },
  };
}

/**
 * Progress of an action on many VMs (`stopping VMs: 120/500, 2 failed`): rewritten in place in a
 * terminal, a plain line at every tenth otherwise, nothing with --json. The failures themselves
 * are the command's to tell, once, at the end.
 */
export function bulkProgress(json: boolean, verb: string) {
  const progress = progressLines(json);
  const live = Boolean(process.stderr.isTTY) && !json;
  let shownTenth = -1;
  return {
    onProgress: ({ done, total, failed }: { done: number; total: number; failed: number }) => {
      const tenth = Math.floor((done * 10) / Math.max(1, total));
      if (!live && tenth === shownTenth && done < total) return;
      shownTenth = tenth;
      progress.line(`${verb}: ${done}/${total}${failed ? `, ${failed} failed` : ''}`);
    },
    done: progress.done,
  };
}

/**
 * Every line of long work whose lines all matter (an app's build): written to stderr as they
 * come, dim in a terminal (plain with NO_COLOR), made terminal-safe (a build prints what the
 * user's code and its packages print); nothing with --json.
 */
export function dimLines(json: boolean): (text: string) => void {
  const dim = Boolean(process.stderr.isTTY) && !process.env.NO_COLOR;
  return (text) => {
    if (json) return;
    const line = terminalSafe(text.replace(/\r?\n$/, ''));
    process.stderr.write(dim ? `\x1b[2m${line}\x1b[22m\n` : `${line}\n`);
  };
}
