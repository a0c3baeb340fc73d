import { describe, expect, it } from 'vitest';
import { type CastEvent, replayFrames, TerminalFilter } from '../../src/domain/asciicast.js';

describe('a terminal replay', () => {
  it('writes output events only, pauses divided by the speed and cut to the idle limit', () => {
    const events: CastEvent[] = [
      [0.5, 'o', 'a'],
      [0.6, 'i', 'typed'],
      [1.5, 'r', '100x30'],
      [2.5, 'o', 'b'],
      [102.5, 'o', 'c'],
      [102.5, 'm', 'marker'],
    ];
    expect(replayFrames(events, { speed: 2, idleLimit: 5 })).toEqual([
      { delayMs: 250, data: 'a' },
      { delayMs: 1000, data: 'b' },
      { delayMs: 2500, data: 'c' },
    ]);
  });

  it("leaves out the output's OSC, DCS and APC strings (clipboard, title), even split over events; colours and text pass", () => {
    const f = new TerminalFilter();
    const parts = [
      'hi \x1b[31mred\x1b[0m',
      '\x1b]52;c;ZXZpbA==',
      '\x07 after',
      ' \x1b]0;title\x1b',
      '\\ more \x1bP+q544e\x1b\\end \x9d8;;x\x9c!',
    ];
    expect(parts.map((p) => f.write(p)).join('')).toBe('hi \x1b[31mred\x1b[0m after  more end !');
  });

  it('lets nothing through that acts beyond drawing: ESC ESC, C1 controls, queries, window and input modes', () => {
    const clean = (text: string) => new TerminalFilter().write(text);
    // A second ESC (or a C1) never lets the next character start a string sequence.
    expect(clean('a\x1b\x1b]52;c;ZXZpbA==\x07b')).toBe('ab');
    expect(clean('a\x1b\x1bP$qm\x1b\\b')).toBe('ab');
    expect(clean('a\x1b\x9d52;c;x\x07b')).toBe('ab');
    expect(clean('a\x9b6nb\x9dx\x9cc')).toBe('a6nbc');
    // Queries and reports, window operations, keyboard, mouse, focus and paste modes: gone.
    for (const q of [
      '\x1b[6n',
      '\x1b[c',
      '\x1b[>c',
      '\x1b[=c',
      '\x1bZ',
      '\x1b[21t',
      '\x1b[8;100;300t',
      '\x1b[2h',
      '\x1b[12l',
      '\x1b[?1003h',
      '\x1b[?1004h',
      '\x1b[?2004h',
      '\x1b[?2l',
      '\x1b[?25;1000h',
      '\x1b[>1u',
      '\x1b[?u',
      '\x1b[0x',
      '\x1b[5i',
      '\x1b[2$p',
    ])
      expect(clean(`<${q}>`), JSON.stringify(q)).toBe('<>');
    // Drawing passes: colours, moves, erase, scroll region, the alternate screen, the cursor shown, charset, cursor shape.
    const drawing =
      '\x1b[1;31mred\x1b[0m\x1b[2J\x1b[H\x1b[10;5H\x1b[K\x1b[2;20r\x1b[?1049h\x1b[?25l\x1b(B\x1b7\x1b8\x1b[3 q\x1b[?25h\x1b[?1049l';
    expect(clean(drawing)).toBe(drawing);
    // Split anywhere, the same.
    const hostile = 'x\x1b\x1b]0;t\x07\x1b[6n\x1b[31my\x1b]8;;http://e\x1b\\z';
    for (let cut = 0; cut <= hostile.length; cut++) {
      const f = new TerminalFilter();
      expect(f.write(hostile.slice(0, cut)) + f.write(hostile.slice(cut)), `cut at ${cut}`).toBe('x\x1b[31myz');
    }
  });
});
