import { Args } from '@oclif/core';
import { BerthCommand } from '../../../src/cli/base-command.js';
import { readSecret } from '../../../src/cli/secret-input.js';
import { checkSecretName, type SecretListing, setUserSecret } from '../../../src/services/secrets/user-secrets.js';
import { checkLogin } from '../../../src/values/names.js';

export default class UserSecretSet extends BerthCommand {
  static override summary = "Store a user's secret (an agent's API key), encrypted at rest";
  static override description =
    "The value is read from stdin (its first line) or asked for without echo; it is never printed, logged or put in --json. Names: the agents' keys (anthropic).";
  static override args = {
    login: Args.string({ description: 'login', required: true }),
    name: Args.string({ description: 'secret name, e.g. anthropic', required: true }),
  };
  static override examples = [
    '<%= config.bin %> user secret set alice anthropic',
    'printf %s "$KEY" | <%= config.bin %> user secret set alice anthropic',
  ];

  async run(): Promise<SecretListing> {
    const { args } = await this.parse(UserSecretSet);
    const login = checkLogin(args.login);
    const name = checkSecretName(args.name);
    const value = await readSecret(`${name} key for ${login}:`, `Pipe the key in: … | berth user secret set ${login} ${name}`);
    const saved = await setUserSecret(this.store, login, name, value);
    this.log(`Stored ${login}'s ${saved.name} secret (encrypted).`);
    return saved;
  }
}
