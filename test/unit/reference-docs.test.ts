import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: plain JS, shared with scripts/docs.js
import { commandsReference, configReference, errorsReference } from '../../scripts/reference-docs.js';
import { ERROR_AREAS } from '../../src/errors/areas.js';
import { CONFIG_KEYS } from '../../src/values/config-keys.js';
import { ROOT } from '../helpers/cli.js';

// The references in docs/ are generated (npm run docs); typed by hand beside the code they
// describe, they would drift. Stale ones fail here.
const committed = (name: string) => readFile(join(ROOT, 'docs', name), 'utf8');

describe('the generated references in docs/', () => {
  it('docs/config.md holds every config key with its default and meaning, as CONFIG_KEYS says', async () => {
    const text = await committed('config.md');
    expect(text, 'docs/config.md is stale: run npm run docs').toBe(configReference(CONFIG_KEYS));
    for (const key of Object.keys(CONFIG_KEYS)) expect(text).toContain(`| \`${key}\` |`);
  });

  it('docs/commands.md holds every command of the oclif manifest, with its flags', async () => {
    const manifest = JSON.parse(await readFile(join(ROOT, 'oclif.manifest.json'), 'utf8'));
    const text = await committed('commands.md');
    expect(text, 'docs/commands.md is stale: run npm run docs').toBe(commandsReference(manifest));
    expect(Object.keys(manifest.commands).length).toBeGreaterThan(50);
  });

  it('docs/errors.md holds every error code with its meaning, area by area, as src/errors/ lists them', async () => {
    const text = await committed('errors.md');
    expect(text, 'docs/errors.md is stale: run npm run docs').toBe(errorsReference(ERROR_AREAS));
    for (const area of ERROR_AREAS) {
      expect(text).toContain(`## ${area.title}`);
      for (const code of Object.keys(area.codes)) expect(text).toContain(`| \`${code}\` |`);
    }
  });
});
