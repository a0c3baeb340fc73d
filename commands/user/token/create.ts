import { Args, Flags } from '@oclif/core';
import { BerthCommand } from '../../../src/cli/base-command.js';
import { createApiToken } from '../../../src/services/apps/api-tokens.js';
import { checkLogin } from '../../../src/values/names.js';
import type { ApiTokenCreatedView } from '../../../src/views/api-token-view.js';

export default class UserTokenCreate extends BerthCommand {
  static override summary = "Make an API token for a user's programs (their CI deploys apps with it)";
  static override description =
    'The token is printed once, alone on stdout; berth keeps only its SHA-256 and cannot show it again. It works while the user is allowed, until revoked.';
  static override args = { login: Args.string({ description: 'login', required: true }) };
  static override flags = {
    name: Flags.string({ description: 'what the token is for (one line, at most 40 characters); default token-ID' }),
  };
  static override examples = [
    '<%= config.bin %> user token create alice --name github-ci',
    'TOKEN=$(<%= config.bin %> user token create alice --name deploy)',
  ];

  async run(): Promise<ApiTokenCreatedView> {
    const { args, flags } = await this.parse(UserTokenCreate);
    const login = checkLogin(args.login);
    const made = await createApiToken(this.store, login, flags.name);
    this.note(`Made ${login}'s API token ${made.id} (${made.name}).`);
    this.log(made.token);
    this.note(`It is shown only once: store it now (e.g. as a CI secret). Revoke it with: berth user token revoke ${login} ${made.id}`);
    return { login, id: made.id, name: made.name, createdAt: made.createdAt, token: made.token };
  }
}
