import { BerthError } from '../../errors.js';
import type { StateStore } from '../../state/store.js';
import { type ConfigValues, effectiveConfig } from '../../values/config-keys.js';
import { callDaemon, livePid } from '../control/daemon-control.js';
import { ROUTES } from '../control/daemon-routes.js';
import { checkTokenFormat, loadTelegramToken, type SavedToken, saveTelegramToken, type TokenSource } from '../secrets/telegram-token.js';

export const OFFICIAL_API_ROOT = 'https://api.telegram.org';

/** BERTH_TELEGRAM_API_ROOT, else `config telegram.api-root`. */
export function telegramApiRoot(config: ConfigValues, env: NodeJS.ProcessEnv = process.env): string {
  return (env.BERTH_TELEGRAM_API_ROOT || config['telegram.api-root']).replace(/\/+$/, '');
}

export interface BotIdentity {
  id: number;
  username: string;
}

/** Asks the Bot API who the token belongs to (getMe). Errors never carry the token. */
export async function verifyToken(token: string, apiRoot: string): Promise<BotIdentity> {
  const { Api, GrammyError } = await import('grammy');
  try {
    const me = await new Api(token, { apiRoot }).getMe();
    return { id: me.id, username: me.username };
  } catch (err) {
    if (err instanceof GrammyError && (err.error_code === 401 || err.error_code === 404)) {
      throw new BerthError(
        'TOKEN_REJECTED',
        `The Bot API at ${apiRoot} rejected the token (${err.error_code}).`,
        'Copy the token again from @BotFather (/token) and rerun berth telegram setup.',
      );
    }
    throw new BerthError(
      'TELEGRAM_UNREACHABLE',
      `The Bot API at ${apiRoot} did not answer.`,
      'Check the network, or point berth at a reachable server: berth config set telegram.api-root URL',
    );
  }
}

export interface SetupResult {
  bot: BotIdentity;
  stored: SavedToken;
  apiRoot: string;
}

/** Checks a token with getMe and stores it (keychain, else secrets.json). */
export async function setupTelegram(home: string, store: StateStore, token: string): Promise<SetupResult> {
  const checked = checkTokenFormat(token);
  const apiRoot = telegramApiRoot(effectiveConfig((await store.read()).config));
  const bot = await verifyToken(checked, apiRoot);
  const stored = await saveTelegramToken(home, checked);
  return { bot, stored, apiRoot };
}

export interface TelegramStatusView {
  configured: boolean;
  tokenSource: TokenSource | null;
  daemon: 'running' | 'stopped';
  /** The bot as the daemon runs it (or as getMe answers when no daemon runs). */
  username: string | null;
  mode: 'polling' | 'webhook';
  apiRoot: string;
  lastUpdateAt: string | null;
  /** Why the bot is not running, when it is not. */
  problem: string | null;
}

export async function telegramStatus(home: string, store: StateStore): Promise<TelegramStatusView> {
  const config = effectiveConfig((await store.read()).config);
  const apiRoot = telegramApiRoot(config);
  const token = await loadTelegramToken(home);
  const view: TelegramStatusView = {
    configured: token !== null,
    tokenSource: token?.source ?? null,
    daemon: livePid(home) ? 'running' : 'stopped',
    username: null,
    mode: config['telegram.mode'],
    apiRoot,
    lastUpdateAt: null,
    problem: token ? null : 'no token — run berth telegram setup',
  };
  if (view.daemon === 'running') {
    const live = await callDaemon(home, ROUTES.telegram, {}).catch(() => null);
    if (live?.bot) Object.assign(view, { username: live.bot.username, lastUpdateAt: live.bot.lastUpdateAt, mode: live.bot.mode });
    if (live && !live.running) {
      view.problem =
        token && live.detail?.startsWith('no token')
          ? 'the daemon started before the token was stored — restart it: berth daemon stop && berth daemon start'
          : (live.detail ?? view.problem);
    }
  } else if (token) {
    const bot = await verifyToken(token.token, apiRoot).catch((err: BerthError) => {
      view.problem = err.message;
      return null;
    });
    view.username = bot?.username ?? null;
    view.problem ??= 'the daemon is not running — start it with berth daemon start';
  }
  return view;
}
