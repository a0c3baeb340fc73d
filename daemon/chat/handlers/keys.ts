import { sshConnectInfo } from '../../../src/services/access/ssh-access.js';
import { addKeys, listKeys, removeKey } from '../../../src/services/people/ssh-keys.js';
import { effectiveConfig } from '../../../src/values/config-keys.js';
import type { ButtonHandler, Handler } from '../handler.js';
import { code, joinRich, type Span } from '../message.js';
import { loginOf, usage } from '../sender.js';

const ssh: Handler = async (turn, core) => {
  const login = loginOf(turn);
  const { store } = core.deps.ctx;
  const keys = await listKeys(store, login);
  if (!effectiveConfig(turn.sender.state.config)['ssh.enabled']) {
    await turn.reply('SSH logins are turned off on this host. Use /exec, /upload and /download meanwhile.');
    return;
  }
  const info = await sshConnectInfo(core.deps.ctx, login);
  const text: Span[] = [];
  if (info.vms.length > 1) {
    text.push('Log in to one of your VMs with:');
    for (const v of info.vms) text.push('\n', code(v.command));
  } else text.push('Log in with:\n', code(info.command));
  if (info.hostKeyFingerprint) text.push("\n\nThe server's host key: ", code(info.hostKeyFingerprint));
  if (keys.length === 0)
    text.push('\n\nYou have no SSH key yet: send /sshkey followed by your public key (the line in ~/.ssh/id_ed25519.pub).');
  else {
    text.push('\n\nYour keys:');
    for (const k of keys) text.push('\n• ', code(k.fingerprint), ` ${k.comment}`);
  }
  await turn.reply({ text });
};

const sshkey: Handler = async (turn, core) => {
  const text = turn.args.key?.trim();
  if (!text) throw usage('Give your public key after the command.', 'For example: /sshkey ssh-ed25519 AAAA… you@laptop');
  const added = await addKeys(core.deps.ctx.store, loginOf(turn), text);
  await turn.reply({
    text: [
      '🔑 Added ',
      ...joinRich(
        added.map((k) => code(k.fingerprint)),
        ', ',
      ),
      '.',
    ],
  });
};

const sshkeys: Handler = async (turn, core) => {
  const keys = await listKeys(core.deps.ctx.store, loginOf(turn));
  if (keys.length === 0) {
    await turn.reply('You have no SSH keys. Add one with /sshkey followed by your public key.');
    return;
  }
  const text: Span[] = ['Your SSH keys:'];
  for (const k of keys) text.push('\n• ', code(k.fingerprint), ` ${k.type} ${k.comment}`);
  await turn.reply({
    text,
    buttons: keys
      .slice(0, 20)
      .map((k) => [{ label: `Remove ${k.fingerprint.slice(7, 19)}… ${k.comment}`.slice(0, 60), data: `rmkey:${k.fingerprint}` }]),
  });
};

export const keyHandlers: Record<string, Handler> = { ssh, sshkey, sshkeys };

export const keyButtons: ButtonHandler[] = [
  {
    pattern: /^rmkey:(SHA256:[A-Za-z0-9+/]{43})$/,
    run: async (turn, match, core) => {
      const login = loginOf(turn);
      const removed = await removeKey(core.deps.ctx.store, login, match[1] ?? '', `user ${login} (${turn.account.frontEnd})`);
      const text: Span[] = ['Removed ', code(removed.fingerprint), '.'];
      if (turn.pressed) await turn.pressed.edit({ text });
      else await turn.reply({ text });
    },
  },
];
