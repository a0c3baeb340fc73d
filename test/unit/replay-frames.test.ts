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
});
