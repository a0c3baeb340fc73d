// `npm run docs`: writes the generated references (docs/config.md, docs/commands.md, docs/errors.md) from the
// built code (run `npm run build` first). test/unit/reference-docs.test.ts fails when they are stale.
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { commandsReference, configReference, errorsReference } from './reference-docs.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { CONFIG_KEYS } = await import(join(root, 'dist', 'src', 'values', 'config-keys.js'));
const { ERROR_AREAS } = await import(join(root, 'dist', 'src', 'errors', 'areas.js'));
const { readFile } = await import('node:fs/promises');
const manifest = JSON.parse(await readFile(join(root, 'oclif.manifest.json'), 'utf8'));
await writeFile(join(root, 'docs', 'config.md'), configReference(CONFIG_KEYS));
await writeFile(join(root, 'docs', 'commands.md'), commandsReference(manifest));
await writeFile(join(root, 'docs', 'errors.md'), errorsReference(ERROR_AREAS));
console.error('docs/config.md, docs/commands.md, docs/errors.md written');
