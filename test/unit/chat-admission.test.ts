import { describe, expect, it } from 'vitest';
import { PerKey } from '../../daemon/chat/per-key.js';
import { chatVerdict } from '../../src/domain/chat-admission.js';

describe('who may do what in the chat bots', () => {
  it.each([
    // [status, admin, command, verdict]
    [undefined, false, 'start', 'pass'],
    [undefined, false, 'link', 'pass'],
    [undefined, false, 'status', 'stranger'],
    [undefined, false, 'help', 'stranger'],
    [undefined, false, null, 'stranger'],
    ['pending', false, 'help', 'pass'],
    ['pending', false, 'myid', 'pass'],
    ['pending', false, 'exec', 'waiting'],
    ['pending', false, null, 'waiting'],
    ['rejected', false, 'start', 'refused'],
    ['revoked', false, 'link', 'refused'],
    ['revoked', false, null, 'refused'],
    ['allowed', false, 'exec', 'pass'],
    ['allowed', false, null, 'pass'],
    // An id in telegram.admins / discord.admins passes before it has a user, and even when revoked.
    [undefined, true, 'broadcast', 'pass'],
    ['revoked', true, 'status', 'pass'],
  ] as const)('%s (admin %s) sending %s: %s', (status, admin, command, verdict) => {
    expect(chatVerdict({ status, admin }, command)).toBe(verdict);
  });
});

describe("one account's turns, one after the other", () => {
  it('runs them in order and refuses past the waiting cap, per account; the map empties when done', async () => {
    const turns = new PerKey(2, 3);
    const order: string[] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    expect(
      turns.run('a', async () => {
        await gate;
        order.push('a1');
      }),
    ).toBe(true);
    expect(turns.run('a', async () => void order.push('a2'))).toBe(true);
    expect(turns.run('a', async () => void order.push('a3'))).toBe(true);
    // The running one and two waiting: a fourth is refused.
    expect(turns.run('a', async () => void order.push('a4'))).toBe(false);
    // Another account is not held up by a.
    expect(turns.run('b', async () => void order.push('b1'))).toBe(true);
    expect(turns.run('c', async () => undefined)).toBe(true);
    // Three accounts followed: a fourth is refused until one is done.
    expect(turns.run('d', async () => undefined)).toBe(false);
    await new Promise((r) => setTimeout(r, 10));
    expect(order).toEqual(['b1']);
    expect(turns.run('d', async () => undefined)).toBe(true);
    release();
    await new Promise((r) => setTimeout(r, 10));
    expect(order).toEqual(['b1', 'a1', 'a2', 'a3']);
    expect(turns.size).toBe(0);
    // A failing turn does not stop the next.
    turns.run('a', async () => {
      throw new Error('boom');
    });
    expect(turns.run('a', async () => void order.push('after'))).toBe(true);
    await new Promise((r) => setTimeout(r, 10));
    expect(order.at(-1)).toBe('after');
  });
});
