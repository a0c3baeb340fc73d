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
