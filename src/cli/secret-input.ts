import { BerthError } from '../errors.js';

/** A secret from a person at a terminal (not echoed), or the first line of piped stdin. */
export async function readSecret(prompt: string, flagHint: string): Promise<string> {
  if (process.stdin.isTTY) {
    const { default: password } = await import('@inquirer/password');
    return password({ message: prompt, mask: false }, { output: process.stderr });
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const line = Buffer.concat(chunks).toString('utf8').split('\n')[0]?.trim() ?? '';
  if (!line) throw new BerthError('NO_INPUT', 'Nothing came on stdin.', flagHint, true);
  return line;
}
