import { Args } from '@oclif/core';
import { BerthCommand } from '../../../src/cli/base-command.js';
import { table } from '../../../src/cli/table.js';
import { listApiTokens } from '../../../src/services/apps/api-tokens.js';
import { checkLogin } from '../../../src/values/names.js';
import { type ApiTokenView, apiTokenView } from '../../../src/views/api-token-view.js';

export default class UserTokenList extends BerthCommand {
  static override summary = "List a user's API tokens: ids, names and when each was made and last used, never the tokens";
  static override args = { login: Args.string({ description: 'login', required: true }) };
  static override examples = ['<%= config.bin %> user token list alice', '<%= config.bin %> user token list alice --json'];

  async run(): Promise<ApiTokenView[]> {
    const { args } = await this.parse(UserTokenList);
    const login = checkLogin(args.login);
    const tokens = (await listApiTokens(this.store, login)).map(apiTokenView);
    this.log(
      tokens.length
        ? table(
            ['ID', 'NAME', 'CREATED', 'LAST USED'],
            tokens.map((t) => [
              t.id,
              t.name,
              t.createdAt.slice(0, 16).replace('T', ' '),
              t.lastUsedAt?.slice(0, 16).replace('T', ' ') ?? 'never',
            ]),
          )
        : `${login} has no API tokens. Make one with: berth user token create ${login} --name NAME`,
    );
    return tokens;
  }
}
