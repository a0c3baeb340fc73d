import type { ExecHandle } from '../../docker/runtime.js';

/**
 * Wires the local terminal to an exec with a TTY: raw mode, input and output
 * piped, the remote size following the local one. Returns the undo.
 */
export function attachTerminal(handle: ExecHandle, withInput: boolean): () => void {
  const stdin = process.stdin;
  const raw = withInput && stdin.isTTY;
  if (raw) stdin.setRawMode(true);
  const resize = () => {
    void handle.resize(process.stdout.columns ?? 80, process.stdout.rows ?? 24);
  };
  resize();
  process.stdout.on('resize', resize);
  handle.stream.pipe(process.stdout, { end: false });
  if (withInput) {
    stdin.resume();
    stdin.pipe(handle.stream);
  }
  return () => {
    process.stdout.off('resize', resize);
    if (withInput) {
      stdin.unpipe(handle.stream);
      stdin.pause();
    }
    if (raw) stdin.setRawMode(false);
  };
}
