import { type Api, GrammyError } from 'grammy';
import type { Logger } from 'pino';
import type { Notifier } from '../../src/services/core/notify.js';
import { setTelegramBlocked } from '../../src/services/people/telegram-users.js';
import type { StateStore } from '../../src/state/store.js';

/** Delivers notices over Telegram; a user who blocked the bot is marked and skipped from then on. */
export function telegramNotifier(api: Api, store: StateStore, log: Logger): Notifier {
  return {
    send: async (notice) => {
      const state = await store.read();
      const targets = state.users.filter(
        (u) =>
          u.telegramId &&
          !u.telegramBlocked &&
          (u.status === 'allowed' || notice.kind === 'access-rejected') &&
          (notice.to === 'all' || u.login === notice.to),
      );
      for (const user of targets) {
        const id = user.telegramId as number;
        try {
          await api.sendMessage(id, notice.text);
        } catch (err) {
          if (err instanceof GrammyError && err.error_code === 403) {
            log.info({ user: user.login }, 'the user blocked the bot; notices to them are skipped until they write again');
            await setTelegramBlocked(store, id, true);
          } else {
            log.warn({ user: user.login, kind: notice.kind, err: (err as Error).message }, 'notice not delivered over Telegram');
          }
        }
      }
    },
  };
}
