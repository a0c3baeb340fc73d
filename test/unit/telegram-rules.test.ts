import { describe, expect, it } from 'vitest';
import { commandsFor } from '../../daemon/chat/commands.js';
import { splitText } from '../../daemon/chat/message.js';
import { outputMessage } from '../../daemon/chat/output.js';
import { escapeHtml, MESSAGE_LIMIT, telegramInfo, toHtml } from '../../daemon/telegram/render.js';
import { DEFAULT_PLANS } from '../../src/services/people/plans.js';
import { adminIds, deriveLogin, identify } from '../../src/services/people/telegram-users.js';
import type { State, User } from '../../src/state/schema.js';

function stateWith(users: Partial<User>[], admins: number[] = []): State {
  return {
    users: users.map((u, i) => ({ login: `user${i}`, role: 'user', plan: 'basic', status: 'allowed', createdAt: '', keys: [], ...u })),
    plans: [...DEFAULT_PLANS],
    config: admins.length ? { 'telegram.admins': admins } : {},
  } as unknown as State;
}

describe('Telegram logins for strangers', () => {
  it('comes from the username, lowercased, without characters a login cannot have', () => {
    expect(deriveLogin(stateWith([]), 5, 'Alice_Dev')).toBe('alicedev');
    expect(deriveLogin(stateWith([]), 5, '__9Bob')).toBe('bob');
  });
  it('is u<id> without a usable username, and never a reserved or taken login', () => {
    expect(deriveLogin(stateWith([]), 42)).toBe('u42');
    expect(deriveLogin(stateWith([]), 42, 'x')).toBe('u42');
    expect(deriveLogin(stateWith([]), 42, 'root')).toBe('root-2');
    expect(deriveLogin(stateWith([{ login: 'alice' }, { login: 'alice-2' }]), 42, 'alice')).toBe('alice-3');
  });
});

describe('who is an admin in the bot', () => {
  it('ids in telegram.admins and allowed users with role admin; a revoked admin is not', () => {
    const state = stateWith(
      [
        { login: 'ann', role: 'admin', telegramId: 10 },
        { login: 'rev', role: 'admin', telegramId: 11, status: 'revoked' },
        { login: 'joe', telegramId: 12 },
      ],
      [99],
    );
    expect(adminIds(state)).toEqual([10, 99]);
    expect(identify(state, 11).admin).toBe(false);
    expect(identify(state, 99)).toMatchObject({ admin: true, user: undefined });
    expect(identify(state, 12)).toMatchObject({ admin: false, user: { login: 'joe' } });
  });
  it('shows pending users only what they may use', () => {
    expect(commandsFor('pending').map((c) => c.command)).toEqual(['start', 'help', 'myid', 'link']);
    expect(commandsFor('user').some((c) => c.command === 'broadcast')).toBe(false);
    expect(commandsFor('admin').some((c) => c.command === 'broadcast')).toBe(true);
  });
});

describe('replies within Telegram limits', () => {
  it('splits long text at line ends into messages of at most 4096 characters, losing nothing', () => {
    const text = Array.from({ length: 3000 }, (_, i) => `line ${i}`).join('\n');
    const parts = splitText(text, MESSAGE_LIMIT);
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(MESSAGE_LIMIT);
    expect(parts.join('\n')).toBe(text);
    const oneLine = 'x'.repeat(10_000);
    expect(splitText(oneLine, MESSAGE_LIMIT).join('')).toBe(oneLine);
  });
  it('shows the end of long output, escaped, and asks for the attachment', () => {
    const output = Buffer.from(`${'<b>&'.repeat(2000)}\nlast`);
    const { message, attach } = outputMessage(telegramInfo(true), { title: ['t'], output, fileName: 'o.txt', footer: 'Exit code: 0' });
    const html = toHtml(message.text);
    expect(attach).toBe(true);
    expect(html.length).toBeLessThanOrEqual(MESSAGE_LIMIT);
    expect(html).toContain('last</pre>');
    expect(html).not.toContain('<b>&');
    expect(escapeHtml('<a href="x">&</a>')).toBe('&lt;a href="x"&gt;&amp;&lt;/a&gt;');
  });
});
