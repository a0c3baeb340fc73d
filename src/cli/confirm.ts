import { createInterface } from 'node:readline/promises';
import { BerthError } from '../errors.js';

/** Asks a person to type `expected` back; refuses outright when no one is at a terminal. */
export async function confirmByTyping(question: string, expected: string, flagHint: string): Promise<void> {
  if (!process.stdin.isTTY || !process.stderr.isTTY) {
    throw new BerthError(
      'CONFIRMATION_REQUIRED',
      'This cannot be undone and nobody is at a terminal to confirm it.',
      `Pass ${flagHint} to confirm.`,
      true,
    );
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`${question}\nType ${expected} to confirm: `);
    if (answer.trim() !== expected)
      throw new BerthError('NOT_CONFIRMED', 'Not confirmed; nothing was changed.', `Type ${expected} exactly, or pass ${flagHint}.`);
  } finally {
    rl.close();
  }
}
