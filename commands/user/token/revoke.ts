import { Args } from '@oclif/core';
import { BerthCommand } from '../../../src/cli/base-command.js';
import { revokeApiToken } from '../../../src/services/apps/api-tokens.js';
import { checkLogin } from '../../../src/values/names.js';
import type { ApiTokenRevokedView } from '../../../src/views/api-token-view.js';

export default class UserTokenRevoke extends BerthCommand {
  static override summary = "Revoke one of a user's API tokens: programs using it are refused from then on";
  static override args = {
    login: Args.string({ description: 'login', required: true }),
    id: Args.string({ description: 'token id (8 hex digits, see berth user token list)', required: true }),
  };
  static override examples = ['<%= config.bin %> user token revoke alice 3f9a0c12'];

  async run(): Promise<ApiTokenRevokedView> {
    const { args } = await this.parse(UserTokenRevoke);
    const login = checkLogin(args.login);
    const revoked = await revokeApiToken(this.store, login, args.id);
    this.log(`Revoked ${login}'s API token ${revoked.id} (${revoked.name}).`);
    return { login, ...revoked };
  }
}
