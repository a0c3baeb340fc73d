import { BerthError } from '../../../src/errors.js';
import { createApiToken, listApiTokens, revokeApiToken } from '../../../src/services/apps/api-tokens.js';
import { utcMinute } from '../../../src/values/durations.js';
import type { ButtonHandler, Handler } from '../handler.js';
import { b, code, type Span } from '../message.js';
import { loginOf } from '../sender.js';

/** The token service's hints name CLI commands; in chat, /tokens. */
function inChat(err: unknown): unknown {
  if (err instanceof BerthError && (err.code === 'TOKEN_LIMIT' || err.code === 'TOKEN_NOT_FOUND'))
    return new BerthError(err.code, err.message, 'Your tokens: /tokens (each has a Revoke button).');
  return err;
}

const token: Handler = async (turn, core) => {
  const login = loginOf(turn);
  const name = turn.args.name?.trim() || undefined;
  const made = await createApiToken(core.deps.ctx.store, login, name).catch((err: unknown) => {
    throw inChat(err);
  });
  await turn.reply({
    text: [
      '🔑 Your API token ',
      b(made.name),
      ` (id ${made.id}):\n`,
      code(made.token),
      "\nIt is shown this once: berth keeps only a hash of it. Copy it now, into your CI's secrets. Revoke it with /tokens.",
    ],
  });
};

const tokens: Handler = async (turn, core) => {
  const list = await listApiTokens(core.deps.ctx.store, loginOf(turn));
  if (list.length === 0) {
    await turn.reply('You have no API tokens. Make one with /token NAME.');
    return;
  }
  const text: Span[] = [b('Your API tokens')];
  for (const t of list)
    text.push(
      `\n• ${t.name} (id `,
      code(t.id),
      `), made ${utcMinute(t.createdAt)}${t.lastUsedAt ? `, last used ${utcMinute(t.lastUsedAt)}` : ', never used'}`,
    );
  await turn.reply({ text, buttons: list.map((t) => [{ label: `Revoke ${t.name}`.slice(0, 60), data: `tok:${t.id}` }]) });
};

export const tokenHandlers: Record<string, Handler> = { token, tokens };

export const tokenButtons: ButtonHandler[] = [
  {
    // Revoke asks first; "yes" and "no" answer it.
    pattern: /^tok:([0-9a-f]{8})(?::(yes|no))?$/,
    run: async (turn, match, core) => {
      const [, id = '', answer] = match;
      const login = loginOf(turn);
      const { store } = core.deps.ctx;
      const shown = turn.pressed ?? (await turn.reply('…'));
      const found = (await listApiTokens(store, login)).find((t) => t.id === id);
      if (!found) {
        await shown.edit({ text: 'That token is already gone. /tokens lists yours.', buttons: [] });
        return;
      }
      if (answer === undefined) {
        await shown.edit({
          text: `Revoke the token ${found.name} (id ${found.id})? Whatever uses it is refused from then on.`,
          buttons: [
            [
              { label: 'Yes, revoke', data: `tok:${id}:yes` },
              { label: 'Cancel', data: `tok:${id}:no` },
            ],
          ],
        });
        return;
      }
      if (answer === 'no') {
        await shown.edit({ text: `The token ${found.name} was kept.`, buttons: [] });
        return;
      }
      const revoked = await revokeApiToken(store, login, id).catch((err: unknown) => {
        throw inChat(err);
      });
      await shown.edit({ text: `🗑 The token ${revoked.name} (id ${revoked.id}) is revoked.`, buttons: [] });
    },
  },
];
