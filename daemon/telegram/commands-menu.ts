import type { Api } from 'grammy';
import { commandsFor } from './command-list.js';

const menu = (audience: 'user' | 'admin') => commandsFor(audience).map((c) => ({ command: c.command, description: c.description }));

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
