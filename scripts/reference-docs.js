// The generated references in docs/: the configuration keys (from CONFIG_KEYS, the one typed
// table of them), the commands (from the oclif manifest) and the error codes (from the lists in
// src/errors/). `npm run docs` writes them; a test
// renders them again and fails when the committed files are stale.

const cell = (text) => String(text).replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** docs/config.md from the config keys table (`CONFIG_KEYS`: key → {default, description, format}). */
export function configReference(keys) {
  const groups = new Map();
  for (const [name, spec] of Object.entries(keys)) {
    const group = name.includes('.') ? name.slice(0, name.indexOf('.')) : 'general';
    if (!groups.has(group)) groups.set(group, []);
    groups.get(group).push([name, spec]);
  }
  const lines = [
    '# Configuration keys',
    '',
    '<!-- Generated from src/values/config-keys.ts by `npm run docs`; do not edit by hand. -->',
    '',
    '```sh',
    'berth config list                  # every key, its value and where it comes from',
    'berth config get KEY',
    'berth config set KEY VALUE         # checked before it is stored',
    'berth config unset KEY             # back to the default',
    '```',
    '',
    'An unknown key is refused with the list of valid keys; every value is checked before it is stored.',
  ];
  for (const [group, entries] of groups) {
    lines.push('', `## ${group}`, '', '| key | default | meaning |', '| --- | --- | --- |');
    for (const [name, spec] of entries) {
      const shown = spec.format(spec.default);
      lines.push(`| \`${name}\` | ${shown === '' ? '(none)' : `\`${cell(shown)}\``} | ${cell(spec.description)} |`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** docs/commands.md from the oclif manifest. */
export function commandsReference(manifest, bin = 'berth') {
  const ids = Object.keys(manifest.commands)
    .filter((id) => manifest.commands[id].pluginType === 'core' && !manifest.commands[id].hidden)
    .sort();
  const lines = [
    '# Commands',
    '',
    '<!-- Generated from the oclif manifest by `npm run docs`; do not edit by hand. -->',
    '',
    `Every command takes \`--help\`. Those marked *json* print one JSON document with \`--json\`.`,
    '',
  ];
  for (const id of ids) lines.push(`- [\`${bin} ${id.replaceAll(':', ' ')}\`](#${anchor(bin, id)})`);
  for (const id of ids) {
    const c = manifest.commands[id];
    const args = Object.values(c.args ?? {}).map((a) => (a.required ? a.name.toUpperCase() : `[${a.name.toUpperCase()}]`));
    lines.push('', `## \`${bin} ${id.replaceAll(':', ' ')}\``, '');
    if (c.summary) lines.push(`${c.summary}${c.enableJsonFlag ? ' *(json)*' : ''}`, '');
    if (c.description) lines.push(c.description.trim(), '');
    lines.push('```', `${bin} ${id.replaceAll(':', ' ')}${args.length ? ` ${args.join(' ')}` : ''}`, '```');
    const argRows = Object.values(c.args ?? {}).filter((a) => a.description);
    const flags = Object.values(c.flags ?? {}).filter((f) => f.name !== 'json' && !f.hidden);
    if (argRows.length || flags.length) {
      lines.push('', '| argument or flag | meaning |', '| --- | --- |');
      for (const a of argRows) lines.push(`| \`${a.name.toUpperCase()}\` | ${cell(a.description)} |`);
      for (const f of flags) {
        const name = `--${f.name}${f.char ? `, -${f.char}` : ''}${f.type === 'option' ? ' VALUE' : ''}`;
        const extra = [
          f.options ? `one of ${f.options.join(', ')}` : '',
          f.default !== undefined && f.type === 'option' ? `default ${f.default}` : '',
        ].filter(Boolean);
        lines.push(`| \`${name}\` | ${cell(f.description ?? '')}${extra.length ? ` (${extra.join('; ')})` : ''} |`);
      }
    }
    const examples = (c.examples ?? [])
      .map((e) => (typeof e === 'string' ? e : e.command))
      .map((e) => e.replaceAll('<%= config.bin %>', bin));
    if (examples.length) lines.push('', '```sh', ...examples, '```');
  }
  return `${lines.join('\n')}\n`;
}

/** docs/errors.md from the error lists (`ERROR_AREAS`: [{title, file, codes: code → meaning}]). */
export function errorsReference(areas) {
  const lines = [
    '# Error codes',
    '',
    '<!-- Generated from src/errors/*.ts by `npm run docs`; do not edit by hand. -->',
    '',
    'Every refusal berth makes carries a stable code, the same from every front-end, with a message',
    '(what is wrong) and a hint (how to fix it):',
    '',
    '- the CLI prints the message and the hint on stderr; with `--json` the error is one JSON line on',
    '  stderr, `{"error":{"code","message","hint"}}`. `BERTH_DEBUG=1` adds the stack trace;',
    '- the bot replies with the message and the hint; the SSH gateway and the web terminal show them in the session;',
    "- the daemon's control API answers `{code, message, hint}` with a 4xx status (400 bad input, 404",
    '  nothing of that name, 409 refused as things are), which the CLI shows as its own errors.',
    '',
    '| exit code | meaning |',
    '| --- | --- |',
    '| 0 | success |',
    '| 1 | the command could not be done (missing plan or user, plan in use, damaged state, Docker unreachable…) |',
    '| 2 | usage error: unknown flag, missing argument, malformed value (`--ram lots`, a bad login…) |',
    '',
    'The codes, by area:',
    '',
  ];
  for (const area of areas) lines.push(`- [${area.title}](#${headingAnchor(area.title)})`);
  for (const area of areas) {
    lines.push('', `## ${area.title}`, '', `Listed in \`src/errors/${area.file}\`.`, '', '| code | meaning |', '| --- | --- |');
    for (const [code, meaning] of Object.entries(area.codes)) lines.push(`| \`${code}\` | ${cell(meaning)} |`);
  }
  return `${lines.join('\n')}\n`;
}

/** The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens. */
export function headingAnchor(heading) {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

const anchor = (bin, id) => `${bin}-${id.replaceAll(':', '-')}`.toLowerCase();
