import { BerthError } from '../../errors.js';
import type { StateStore } from '../../state/store.js';
import { type ConfigValues, effectiveConfig } from '../../values/config-keys.js';
import { callDaemon, livePid } from '../control/daemon-control.js';
import { ROUTES } from '../control/daemon-routes.js';
import type { SavedToken, TokenSource } from '../secrets/bot-token.js';
import { checkDiscordTokenFormat, readDiscordToken, saveDiscordToken } from '../secrets/discord-token.js';

/** How long the checks of a token may take, both requests together. */
const CHECK_DEADLINE_MS = 10_000;

/** `config discord.api-root`, without a trailing slash (…/api; requests add /v10/…). */
export function discordApiRoot(config: ConfigValues): string {
  return config['discord.api-root'].replace(/\/+$/, '');
}

/** The link that adds the bot to a server, with its slash commands and no permissions asked for. */
export function discordInviteUrl(applicationId: string): string {
  return `https://discord.com/oauth2/authorize?client_id=${encodeURIComponent(applicationId)}&scope=bot+applications.commands&permissions=0`;
}

export interface DiscordBotIdentity {
  /** The bot user's id and name. */
  id: string;
  username: string;
  /** Its application's id (the invite link's client_id) and name. */
  applicationId: string;
  applicationName: string;
}

async function getJson(url: string, token: string, signal: AbortSignal, apiRoot: string): Promise<Record<string, unknown>> {
  let response: Response;
  try {
    response = await fetch(url, { headers: { Authorization: `Bot ${token}`, 'User-Agent': 'berth' }, signal });
  } catch (err) {
    const timedOut = (err as Error).name === 'TimeoutError' || signal.aborted;
    throw new BerthError(
      'DISCORD_UNREACHABLE',
      `The Discord API at ${apiRoot} ${timedOut ? `did not answer within ${CHECK_DEADLINE_MS / 1000} s` : 'could not be reached'}.`,
      'Check the network, or the API root: berth config get discord.api-root',
    );
  }
  if (response.status === 401 || response.status === 403) {
    await response.body?.cancel();
    throw new BerthError(
      'DISCORD_TOKEN_REJECTED',
      `The Discord API at ${apiRoot} rejected the token (${response.status}).`,
      "Reset the token on your application's Bot page in the Developer Portal, then run berth discord setup again.",
    );
  }
  const body = response.ok ? ((await response.json().catch(() => null)) as unknown) : null;
  if (!response.ok || body === null || typeof body !== 'object') {
    await response.body?.cancel().catch(() => undefined);
    throw new BerthError(
      'DISCORD_UNREACHABLE',
      `The Discord API at ${apiRoot} answered ${response.ok ? 'with something that is not JSON' : `with status ${response.status}`}.`,
      'Try again in a minute; check discord.api-root if it persists.',
    );
  }
  return body as Record<string, unknown>;
}

/** Asks the Discord API who the token belongs to (the bot user and its application). Errors never carry the token. */
export async function verifyDiscordToken(token: string, apiRoot: string): Promise<DiscordBotIdentity> {
  const signal = AbortSignal.timeout(CHECK_DEADLINE_MS);
  const [me, app] = await Promise.all([
    getJson(`${apiRoot}/v10/users/@me`, token, signal, apiRoot),
    getJson(`${apiRoot}/v10/oauth2/applications/@me`, token, signal, apiRoot),
  ]);
  const text = (v: unknown) => (typeof v === 'string' ? v : '');
  if (!text(me.id) || !text(app.id)) {
    throw new BerthError(
      'DISCORD_UNREACHABLE',
      `The Discord API at ${apiRoot} answered without the bot's or the application's id.`,
      'Check discord.api-root: it must be the Discord API (https://discord.com/api).',
    );
  }
  return { id: text(me.id), username: text(me.username), applicationId: text(app.id), applicationName: text(app.name) };
}

export interface DiscordSetupResult {
  bot: DiscordBotIdentity;
  inviteUrl: string;
  stored: SavedToken;
  apiRoot: string;
}

/** Checks a token with the Discord API and stores it (keychain, else secrets.json). */
export async function setupDiscord(home: string, store: StateStore, token: string): Promise<DiscordSetupResult> {
  const checked = checkDiscordTokenFormat(token);
  const apiRoot = discordApiRoot(effectiveConfig((await store.read()).config));
  const bot = await verifyDiscordToken(checked, apiRoot);
  const stored = await saveDiscordToken(home, checked);
  return { bot, inviteUrl: discordInviteUrl(bot.applicationId), stored, apiRoot };
}

export interface DiscordStatusView {
  configured: boolean;
  tokenSource: TokenSource | null;
  /** The bot user as the Discord API answers for the token. */
  botId: string | null;
  username: string | null;
  applicationId: string | null;
  inviteUrl: string | null;
  apiRoot: string;
  /** Whether the daemon runs; while it does, what its bot says. */
  daemon: 'running' | 'stopped';
  /** Servers the running bot is in (null while the daemon does not run it). */
  guilds: number | null;
  lastInteractionAt: string | null;
  /** Why the bot cannot run, when it cannot. */
  problem: string | null;
}

/** The token in force and who it belongs to (asked of the Discord API). */
export async function discordStatus(home: string, store: StateStore): Promise<DiscordStatusView> {
  const apiRoot = discordApiRoot(effectiveConfig((await store.read()).config));
  const token = await readDiscordToken(home);
  const view: DiscordStatusView = {
    configured: token !== null,
    tokenSource: token?.source ?? null,
    botId: null,
    username: null,
    applicationId: null,
    inviteUrl: null,
    apiRoot,
    daemon: livePid(home) ? 'running' : 'stopped',
    guilds: null,
    lastInteractionAt: null,
    problem: token ? null : 'no token — run berth discord setup',
  };
  if (view.daemon === 'running') {
    const live = await callDaemon(home, ROUTES.discord, {}).catch(() => null);
    if (live?.bot) Object.assign(view, { guilds: live.bot.guilds, lastInteractionAt: live.bot.lastInteractionAt });
    if (live && !live.running && token) {
      view.problem = live.detail?.startsWith('no token')
        ? 'the daemon started before the token was stored — restart it: berth daemon stop && berth daemon start'
        : (live.detail ?? null);
    }
  }
  if (!token) return view;
  try {
    const bot = await verifyDiscordToken(token.token, apiRoot);
    Object.assign(view, {
      botId: bot.id,
      username: bot.username,
      applicationId: bot.applicationId,
      inviteUrl: discordInviteUrl(bot.applicationId),
    });
  } catch (err) {
    if (!(err instanceof BerthError)) throw err;
    view.problem = err.message;
  }
  return view;
}
