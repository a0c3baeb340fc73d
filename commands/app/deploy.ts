import { Flags } from '@oclif/core';
import { appArg, appRefArg, viewOf } from '../../src/cli/app-flags.js';
import { readSource } from '../../src/cli/app-source.js';
import { BerthCommand } from '../../src/cli/base-command.js';
import { dimLines } from '../../src/cli/progress.js';
import { forceFlag } from '../../src/cli/vm-flags.js';
import { operator } from '../../src/domain/actor.js';
import { checkEntrypoint, parseEnv, parseSecretRefs } from '../../src/domain/apps.js';
import { findUser } from '../../src/domain/lookups.js';
import { invalidInput } from '../../src/errors.js';
import { codeLimits } from '../../src/services/apps/app-sources.js';
import { deployApp } from '../../src/services/apps/apps.js';
import { APP_RUNTIMES, type AppRuntime } from '../../src/state/schema.js';
import { effectiveConfig } from '../../src/values/config-keys.js';
import { printable } from '../../src/values/names.js';
import type { AppView } from '../../src/views/app-view.js';

export default class AppDeploy extends BerthCommand {
  static override summary = "Deploy a user's app: build it from a source and run it";
  static override description =
    `Give exactly one source: FILES (files, or one folder: read with its subfolders, leaving out .git, node_modules, .venv and __pycache__), --archive, --from-vm, --git, --image or --image-archive.
Code (Python or Node.js) is built into an image with its requirements; an image runs as it is. The app runs with its owner's plan's app limits and is restarted when it crashes.
Build lines go to stderr; --json prints the app on stdout.`;
  static override strict = false;
  static override usage = [
    'app deploy USER/NAME FILES... [--runtime python|node] [--entrypoint FILE] [--env NAME=value]... [--secret NAME|VAR=NAME]... [--port N] [--replace]',
    'app deploy USER/NAME --archive FILE | --from-vm VM:PATH | --git URL [--branch B] | --image REF | --image-archive FILE [flags]',
  ];
  static override args = { app: appArg };
  static override flags = {
    archive: Flags.string({ description: 'a .tar.gz, .tar or .zip of the code' }),
    'from-vm': Flags.string({ description: "a folder of one of the user's VMs, VM:PATH (e.g. main:~/mybot)" }),
    git: Flags.string({ description: 'an https git repository (public, no password in the URL)' }),
    branch: Flags.string({ description: 'the branch of --git (default main)' }),
    image: Flags.string({ description: 'an image the operator allows (config apps.images), run as it is' }),
    'image-archive': Flags.string({ description: 'an image saved with docker save IMAGE > FILE (config apps.max-image-upload)' }),
    runtime: Flags.string({ description: 'the language of the code (default: guessed from its files)', options: [...APP_RUNTIMES] }),
    entrypoint: Flags.string({ description: 'the file to run, relative to the code (default: main.py, bot.py, app.py, index.js…)' }),
    env: Flags.string({ description: 'a variable NAME=value (repeat for more)', multiple: true, multipleNonGreedy: true }),
    secret: Flags.string({
      description: "a variable from the user's secret NAME (as NAME, upper-cased), or VAR=NAME (repeat for more)",
      multiple: true,
      multipleNonGreedy: true,
    }),
    port: Flags.integer({ description: 'the port its web server listens on (given to it as PORT)', min: 1, max: 65535 }),
    replace: Flags.boolean({ description: 'replace the app of that name (it runs on until the new build is ready)' }),
    force: forceFlag,
  };
  static override examples = [
    '<%= config.bin %> app deploy alice/mybot ./mybot',
    '<%= config.bin %> app deploy alice/mybot bot.py requirements.txt --secret bot-token --secret DB_URL=database',
    '<%= config.bin %> app deploy alice/web --git https://github.com/alice/web.git --branch prod --port 8080 --replace',
    '<%= config.bin %> app deploy alice/worker --from-vm main:~/worker --runtime node --env MODE=prod',
    '<%= config.bin %> app deploy alice/svc --image-archive svc.tar --json',
  ];

  async run(): Promise<AppView> {
    const { args, argv, flags } = await this.parse(AppDeploy);
    // Everything that can be wrong in the command line is said before any file is read.
    const { user, name, ref } = appRefArg(args.app);
    parseEnv(flags.env ?? []);
    parseSecretRefs(flags.secret ?? []);
    if (flags.entrypoint !== undefined) checkEntrypoint(flags.entrypoint);
    const files = (argv as string[]).slice(1);
    const flagLike = files.find((f) => f.startsWith('-'));
    if (flagLike !== undefined)
      throw invalidInput(
        'INVALID_APP_SOURCE',
        `${printable(flagLike)} is not a flag of berth app deploy.`,
        'See berth app deploy --help (a file whose name starts with - is ./-name).',
      );
    const state = await this.store.read();
    findUser(state, user);
    const source = await readSource(files, flags, {
      code: await codeLimits(this.berth),
      maxImageUpload: effectiveConfig(state.config)['apps.max-image-upload'],
    });
    this.note(`Deploying ${ref}…`);
    const app = await deployApp(
      this.berth,
      {
        user,
        name,
        source,
        runtime: flags.runtime as AppRuntime | undefined,
        entrypoint: flags.entrypoint,
        env: flags.env,
        secrets: flags.secret,
        port: flags.port,
        replace: flags.replace,
      },
      operator(flags.force),
      dimLines(this.jsonEnabled()),
    );
    const view = viewOf(app);
    this.log(`Deployed app ${view.ref}; it is ${view.status}${view.build ? ` (built in ${view.build.seconds} s)` : ''}.`);
    this.log(`Output: berth app logs ${view.ref} -f`);
    return view;
  }
}
