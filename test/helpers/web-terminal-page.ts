import type { BrowserContext, Page } from 'playwright-core';

// berth's web terminal page as a test drives it in Chromium: what it shows, typing into it,
// and its WebSocket's state (the page exposes `window.berth` for this).

/** Everything the terminal holds (screen and scrollback), as text. */
export async function screen(page: Page): Promise<string> {
  return page.evaluate(() => {
    const b = (
      window as unknown as {
        berth: {
          terminal: { buffer: { active: { length: number; getLine(i: number): { translateToString(t: boolean): string } | undefined } } };
        };
      }
    ).berth.terminal.buffer.active;
    const lines: string[] = [];
    for (let i = 0; i < b.length; i++) lines.push(b.getLine(i)?.translateToString(true) ?? '');
    return lines.join('\n');
  });
}

/** Waits until the terminal shows `what`; its first group (or the match). */
export async function shows(page: Page, what: RegExp, timeoutMs = 20_000): Promise<string> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const text = await screen(page);
    const m = what.exec(text);
    if (m) return m[1] ?? m[0];
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} in the terminal; it shows:\n${text.trimEnd().slice(-1500)}`);
    await page.waitForTimeout(100);
  }
}

/** Types a line (and Enter) into the terminal. */
export async function typeLine(page: Page, line: string): Promise<void> {
  await page.click('#terminal');
  await page.keyboard.type(`${line}\n`);
}

/** Waits until the page's WebSocket is open (and has opened more than `moreThan` times). */
export async function connected(page: Page, moreThan = 0): Promise<void> {
  await page.waitForFunction(
    (n) => {
      const b = (window as unknown as { berth?: { socket(): { readyState: number } | null; opens(): number } }).berth;
      return b !== undefined && b.socket()?.readyState === 1 && b.opens() > n;
    },
    moreThan,
    { timeout: 20_000 },
  );
}

/** Opens a one-time link in `context`: a new page on the terminal (or app) it lands on. */
export async function openLink(context: BrowserContext, url: string, lands: RegExp): Promise<Page> {
  const page = await context.newPage();
  await page.goto(url);
  await page.waitForURL(lands, { timeout: 20_000 });
  return page;
}
