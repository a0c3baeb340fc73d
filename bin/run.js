#!/usr/bin/env node
import { existsSync, readFileSync } from 'node:fs';
import module from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Node 22: keep the compiled code of berth and its dependencies on disk (NODE_COMPILE_CACHE, else
// the OS temp dir), so that later starts skip compiling it. Before oclif is imported.
module.enableCompileCache?.();

const root = fileURLToPath(new URL('..', import.meta.url));
const argv = process.argv.slice(2);

/**
 * Whether argv names one of berth's own commands (its first words, as oclif reads them), asked
 * for without --help, or is `--version`: then oclif need not load its help and autocomplete
 * plugins, whose commands (`help`, `autocomplete`) and entries in the help screens are all they add.
 */
function ownCommand() {
  if (argv[0] === '--version') return true;
  const dash = argv.indexOf('--');
  const options = dash < 0 ? argv : argv.slice(0, dash);
  if (options.includes('--help') || options.includes('-h')) return false;
  const words = [];
  for (const arg of argv) {
    if (words.length === 3 || !/^[a-z][a-z0-9-]*$/.test(arg)) break;
    words.push(arg);
  }
  for (let n = words.length; n > 0; n--) {
    if (existsSync(`${join(root, 'dist', 'commands', ...words.slice(0, n))}.js`)) return true;
  }
  return false;
}

// `berth vm exec VM [-i] [-t] -- CMD…` runs without oclif (the same output, errors and exit
// codes as the command); any other form of it goes to the command.
let done = false;
if (argv[0] === 'vm' && argv[1] === 'exec') {
  const { fastExec } = await import('../dist/src/cli/fast-exec.js');
  done = await fastExec(argv.slice(2));
}
if (!done) {
  const pjson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  if (ownCommand()) pjson.oclif = { ...pjson.oclif, plugins: [] };
  const { execute } = await import('@oclif/core');
  await execute({ dir: import.meta.url, loadOptions: { root, pjson } });
}
