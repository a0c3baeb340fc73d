import type { Api } from 'grammy';
import { commandsFor } from '../chat/commands.js';

/** Telegram's menu: every command and alias, with its description (Telegram allows 256 characters). */
const menu = (audience: 'user' | 'admin') =>
  commandsFor(audience).flatMap((c) =>
    [c.command, ...(c.aliases ?? [])].map((command) => ({ command, description: c.description.slice(0, 256) })),
  );

/** The command menu users see, and the longer one in each admin's chat. */
export async function publishMenus(
  api: Api,
  admins: number[],
  formerAdmins: number[] = [],
  onError: (id: number, err: Error) => void = () => undefined,
): Promise<void> {
  await api.setMyCommands(menu('user'));
  // An admin id that never opened a chat with the bot ("chat not found") must not stop the others.
  for (const id of admins)
    await api.setMyCommands(menu('admin'), { scope: { type: 'chat', chat_id: id } }).catch((err: Error) => onError(id, err));
  for (const id of formerAdmins.filter((x) => !admins.includes(x))) {
    await api.deleteMyCommands({ scope: { type: 'chat', chat_id: id } }).catch((err: Error) => onError(id, err));
  }
}
