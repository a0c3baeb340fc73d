import { setTimeout as sleep } from 'node:timers/promises';
import { Args, Flags } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { replayFrames, TERMINAL_RESET, TerminalFilter } from '../../src/domain/asciicast.js';
import { invalidInput } from '../../src/errors.js';
import { type RecordingLink, replayWebLink } from '../../src/services/access/recording-links.js';
import { readRecording } from '../../src/services/access/recordings.js';

const option = (value: number, name: string, min: number, max: number) => {
  if (!Number.isFinite(value) || value < min || value > max)
    throw invalidInput('INVALID_REPLAY_OPTION', `--${name} ${value} is out of range.`, `Give a number from ${min} to ${max}.`);
  return value;
};

export default class SessionsReplay extends BerthCommand {
  static override summary = 'Replay a recorded session in this terminal (or, with --web, in a browser)';
  static override description =
    "The recording's output is written with its timing; what could act on your terminal beyond drawing (clipboard writes, titles, terminal queries) is left out. Ctrl-C stops.";
  static override args = { id: Args.string({ description: 'recording id (from berth sessions recordings)', required: true }) };
  static override flags = {
    speed: Flags.string({ description: 'play this many times faster (0.1 to 100)', default: '1' }),
    'idle-limit': Flags.string({ description: 'cut pauses to at most this many seconds', default: '2' }),
    web: Flags.boolean({ description: 'print a one-time link (60 s, once) to replay it in a browser instead (the daemon must run)' }),
  };
  static override examples = [
    '<%= config.bin %> sessions replay 3f9a0c21b7d4',
    '<%= config.bin %> sessions replay 3f9a0c21b7d4 --speed 4 --idle-limit 1',
    '<%= config.bin %> sessions replay 3f9a0c21b7d4 --web',
  ];

  async run(): Promise<{ recording: string; frames: number; seconds: number } | RecordingLink> {
    const { args, flags } = await this.parse(SessionsReplay);
    if (flags.web) {
      const link = await replayWebLink(this.store.home, args.id);
      if (!this.jsonEnabled()) {
        this.log(link.url);
        this.note(`Open it within 60 s (until ${link.expiresAt}); it works once, and opens only this recording.`);
      }
      return link;
    }
    const speed = option(Number(flags.speed), 'speed', 0.1, 100);
    const idleLimit = option(Number(flags['idle-limit']), 'idle-limit', 0.1, 3600);
    const { view, cast } = await readRecording(this.store.home, args.id);
    const frames = replayFrames(cast.events, { speed, idleLimit });
    const seconds = frames.reduce((n, f) => n + f.delayMs, 0) / 1000;
    if (this.jsonEnabled()) return { recording: view.id, frames: frames.length, seconds };
    this.note(`Replaying ${view.vm} (${view.via}, ${view.startedAt}), ${Math.ceil(seconds)} s at ${speed}×.`);
    const filter = new TerminalFilter();
    // Whatever the recorded program left set (colours, the alternate screen, a hidden cursor) is
    // reset at the end, and on Ctrl-C.
    const reset = () => process.stdout.write(`${TERMINAL_RESET}\r\n`);
    const interrupted = () => {
      reset();
      process.exit(130);
    };
    process.once('SIGINT', interrupted);
    try {
      for (const frame of frames) {
        if (frame.delayMs > 0) await sleep(frame.delayMs);
        const text = filter.write(frame.data);
        if (text && !process.stdout.write(text)) await new Promise((r) => process.stdout.once('drain', r));
      }
    } finally {
      process.off('SIGINT', interrupted);
      reset();
    }
    this.note('End of the recording.');
    return { recording: view.id, frames: frames.length, seconds };
  }
}
