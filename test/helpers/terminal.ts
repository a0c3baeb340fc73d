import { execa } from 'execa';

export const tmux = (...args: string[]) => execa('tmux', args);

/** A tmux pane a test drives: what it shows now, and waiting (up to `ms`) until it shows something. */
export function pane(target: string) {
  const screen = async () => (await tmux('capture-pane', '-p', '-t', target)).stdout;
  const shows = async (test: RegExp | ((shown: string) => boolean), what: string = String(test), ms = 20_000): Promise<string> => {
    const ok = typeof test === 'function' ? test : (shown: string) => test.test(shown);
    const end = Date.now() + ms;
    for (;;) {
      const shown = await screen();
      if (ok(shown)) return shown;
      if (Date.now() > end) throw new Error(`the terminal never showed ${what}:\n${shown}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  return { screen, shows };
}
