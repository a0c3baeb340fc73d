import { BerthError } from '../../src/errors.js';
import type { Notifier } from '../../src/services/core/notify.js';
import { accountOf, adminAccounts, type FrontEnd, setAccountBlocked } from '../../src/services/people/chat-users.js';
import { Gate } from './access.js';
import { findCommand } from './commands.js';
import type { ButtonHandler, ChatDeps, CoreAccess, Handler } from './handler.js';
import { adminButtons, adminHandlers } from './handlers/admin.js';
import { agentHandlers, agentMessage } from './handlers/agent.js';
import { appButtonHandlers, appHandlers } from './handlers/apps.js';
import { backupButtons, backupHandlers } from './handlers/backups.js';
import { deployHandler } from './handlers/deploy.js';
import { fileHandlers } from './handlers/files.js';
import { keyButtons, keyHandlers } from './handlers/keys.js';
import { recordingButtons, recordingHandlers } from './handlers/recordings.js';
import { startHandlers } from './handlers/start.js';
import { tokenButtons, tokenHandlers } from './handlers/tokens.js';
import { vmButtons, vmHandlers } from './handlers/vm.js';
import { webHandlers } from './handlers/web.js';
import type { Message } from './message.js';
import { NoLoginError } from './sender.js';
import type { Args, Incoming, Reach, Turn } from './turn.js';
import { TurnedAwayDigest } from './turned-away-digest.js';

/** A turn as a front-end knows it, before the core has read who the sender is. */
export type TurnBase = Omit<Turn, 'sender' | 'args'> & { args?: Args };

export const UNKNOWN = 'I do not know that. /help lists the commands you can use.';
export const STALE_BUTTON = 'This button is no longer valid.';

/** What a user sees when something they asked for cannot be done. */
export function errorText(err: unknown): string {
  if (err instanceof NoLoginError) return err.message;
  if (err instanceof BerthError) return `⚠️ ${err.message}${err.hint ? `\n${err.hint}` : ''}`;
  return '⚠️ Something went wrong on the server. The operator can see the details in the daemon log.';
}

/**
 * The conversation, in no messenger's terms: who may do what, every command's handler, button
 * presses, plain messages to the agent, access requests to the admins and notices. Front-ends
 * turn their updates into turns and render the replies.
 */
export class ChatCore implements CoreAccess {
  private readonly reaches = new Map<FrontEnd, Reach>();
  private readonly gates = new Map<FrontEnd, Gate>();
  private readonly handlers: Record<string, Handler>;
  private readonly buttons: ButtonHandler[];
  readonly turnedAway: TurnedAwayDigest;

  constructor(readonly deps: ChatDeps) {
    this.handlers = {
      ...startHandlers,
      ...vmHandlers,
      ...webHandlers,
      ...recordingHandlers,
      ...backupHandlers,
      ...fileHandlers,
      ...keyHandlers,
      ...appHandlers,
      deploy: deployHandler(),
      ...tokenHandlers,
      ...adminHandlers,
      ...(deps.agents ? agentHandlers(deps.agents) : {}),
    };
    this.buttons = [
      ...adminButtons,
      ...vmButtons,
      ...keyButtons,
      ...appButtonHandlers,
      ...tokenButtons,
      ...recordingButtons,
      ...backupButtons,
    ];
    this.turnedAway = new TurnedAwayDigest((text) => this.toAdmins(text), deps.log);
  }

  /** A front-end that runs: it can reach admins and users from now on. */
  attach(reach: Reach): () => void {
    this.reaches.set(reach.info.name, reach);
    return () => {
      if (this.reaches.get(reach.info.name) === reach) this.reaches.delete(reach.info.name);
    };
  }

  stop(): void {
    this.turnedAway.stop();
  }

  private gate(frontEnd: FrontEnd): Gate {
    let gate = this.gates.get(frontEnd);
    if (!gate) {
      gate = new Gate(this.deps.ctx.store);
      this.gates.set(frontEnd, gate);
    }
    return gate;
  }

  /** Reads who the sender is and lets the turn through, or answers the refusal. */
  private async admit(base: TurnBase, command: string | null, told: () => void = () => undefined): Promise<Turn | null> {
    const admission = await this.gate(base.account.frontEnd).admit(base.account, command);
    if (!admission.pass) {
      if (admission.text) {
        told();
        await base.reply(admission.text).catch(() => undefined);
      }
      return null;
    }
    return { ...base, args: base.args ?? {}, sender: admission.sender };
  }

  /** Runs `work`; a failure is told to the sender (and logged when it is not the user's doing). */
  private async guarded(turn: TurnBase, what: string, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (err) {
      if (!(err instanceof BerthError) && !(err instanceof NoLoginError)) {
        this.deps.log.error({ err: (err as Error).message, frontEnd: turn.account.frontEnd, what }, 'a chat handler failed');
      }
      await turn.reply(errorText(err)).catch(() => undefined);
    }
  }

  /**
   * A command with its arguments. False when nothing was said or done (a silent refusal): the
   * front-end may take back what it showed meanwhile ("thinking…"). A handler may answer later
   * (the agent's reply): true means it ran.
   */
  async command(base: TurnBase, name: string): Promise<boolean> {
    const spec = findCommand(name);
    let answered = false;
    await this.guarded(base, name, async () => {
      const turn = await this.admit(base, spec?.command ?? name.toLowerCase(), () => {
        answered = true;
      });
      if (!turn) return;
      answered = true;
      const handler = spec ? this.handlers[spec.command] : undefined;
      if (!spec || !handler || (spec.audience === 'admin' && !turn.sender.identity.admin)) {
        await turn.reply(UNKNOWN);
        return;
      }
      await handler(turn, this);
    }).catch(() => undefined);
    return answered;
  }

  /** A button press; the front-end made sure the presser is the person the button was for. */
  async press(base: TurnBase, data: string): Promise<void> {
    await this.guarded(base, 'button', async () => {
      const turn = await this.admit(base, null);
      if (!turn) return;
      for (const button of this.buttons) {
        const match = data.match(button.pattern);
        if (!match || (button.admin && !turn.sender.identity.admin)) continue;
        await turn.acknowledge?.();
        await button.run(turn, match, this);
        return;
      }
      await (turn.toast ? turn.toast(STALE_BUTTON) : turn.reply(STALE_BUTTON));
    });
  }

  /** A message that is not a command: a prompt for the agent, or a file for it. */
  async message(base: TurnBase, text: string, file?: Incoming): Promise<void> {
    await this.guarded(base, 'message', async () => {
      const turn = await this.admit(base, null);
      if (!turn) return;
      if (this.deps.agents && (await agentMessage(turn, this, this.deps.agents, text, file))) return;
      await turn.reply(UNKNOWN);
    });
  }

  /** Every admin on every front-end that runs. */
  async toAdmins(message: Message | string): Promise<void> {
    const state = await this.deps.ctx.store.read();
    for (const reach of this.reaches.values()) {
      for (const id of adminAccounts(state, reach.info.name)) {
        const sent = await reach.send(id, message).catch((err: Error) => {
          this.deps.log.warn({ frontEnd: reach.info.name, admin: id, err: err.message }, 'could not reach an admin');
          return 'failed' as const;
        });
        if (sent === 'blocked')
          this.deps.log.warn(
            { frontEnd: reach.info.name, admin: id },
            'an admin has blocked the bot (or closed DMs): they miss what admins are told',
          );
      }
    }
  }

  /** Delivers notices on one front-end; a person who blocked the bot is marked and skipped until they write again. */
  notifier(frontEnd: FrontEnd): Notifier {
    const { store } = this.deps.ctx;
    return {
      send: async (notice) => {
        const reach = this.reaches.get(frontEnd);
        if (!reach) return;
        const state = await store.read();
        for (const user of state.users) {
          const id = accountOf(user, frontEnd);
          const blocked = frontEnd === 'discord' ? user.discordBlocked : user.telegramBlocked;
          if (!id || blocked) continue;
          if (user.status !== 'allowed' && notice.kind !== 'access-rejected') continue;
          if (notice.to !== 'all' && user.login !== notice.to) continue;
          try {
            if ((await reach.send(id, notice.text)) === 'blocked') {
              this.deps.log.info(
                { user: user.login, frontEnd },
                'the user blocked the bot; notices to them are skipped until they write again',
              );
              await setAccountBlocked(store, { frontEnd, id }, true);
            }
          } catch (err) {
            this.deps.log.warn({ user: user.login, frontEnd, kind: notice.kind, err: (err as Error).message }, 'notice not delivered');
          }
        }
      },
    };
  }
}
