import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: plain JS, shared with scripts/docs.js
import { headingAnchor } from '../../scripts/reference-docs.js';
import { ROOT } from '../helpers/cli.js';

// The README is short and points into docs/; the guides point at each other. A link to a file or
// a heading that moved is found here, not by a reader.

const pages = [
  'README.md',
  'daemon/README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** The text outside fenced code blocks and inline code, where links and headings are. */
function prose(markdown: string): string[] {
  let fenced = false;
  return markdown.split('\n').map((line) => {
    if (/^\s*(```|~~~)/.test(line)) {
      fenced = !fenced;
      return '';
    }
    return fenced ? '' : line.replace(/`[^`]*`/g, '``');
  });
}

/** The anchors a page offers: its headings as GitHub names them (repeats get -1, -2…), and explicit ids. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    if (fenced) continue;
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading !== undefined) {
      const base = headingAnchor(heading.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1'));
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      anchors.add(n ? `${base}-${n}` : base);
    }
    for (const [, id] of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(id as string);
  }
  return anchors;
}

/** Every relative link of a page: `[text](target)` and `![alt](target)`, with the line it is on. */
function linksOf(markdown: string): { line: number; target: string }[] {
  return prose(markdown).flatMap((text, i) =>
    [...text.matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)]
      .map((m) => m[1] as string)
      .filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target))
      .map((target) => ({ line: i + 1, target })),
  );
}

function brokenLinks(page: string): string[] {
  const markdown = readFileSync(join(ROOT, page), 'utf8');
  return linksOf(markdown).flatMap(({ line, target }) => {
    const [path = '', fragment] = target.split('#');
    const file = path ? resolve(ROOT, dirname(page), decodeURIComponent(path)) : join(ROOT, page);
    const where = `${page}:${line} → ${target}`;
    if (!file.startsWith(ROOT) || !existsSync(file)) return [`${where}: no file ${relative(ROOT, file)}`];
    if (fragment === undefined) return [];
    if (!file.endsWith('.md')) return [`${where}: an anchor in a file that is not markdown`];
    return anchorsOf(readFileSync(file, 'utf8')).has(fragment) ? [] : [`${where}: no heading #${fragment} in ${relative(ROOT, file)}`];
  });
}

describe('the links of the README and docs/', () => {
  it('are found: the README links the guides and the generated references', () => {
    const targets = linksOf(readFileSync(join(ROOT, 'README.md'), 'utf8')).map((l) => l.target.split('#')[0]);
    for (const page of [
      'docs/install.md',
      'docs/commands.md',
      'docs/config.md',
      'docs/errors.md',
      'docs/security.md',
      'docs/development.md',
    ]) {
      expect(targets, `README links ${page}`).toContain(page);
    }
    expect(anchorsOf('## The `web.path-apps` key (off)\n```\n# not a heading\n```\n## A\n## A')).toEqual(
      new Set(['the-webpath-apps-key-off', 'a', 'a-1']),
    );
  });

  it.each(pages)('%s: every relative link names a file that exists, and a heading in it', (page) => {
    expect(brokenLinks(page)).toEqual([]);
  });

  it.each(pages)('%s: every file or folder of the repository it names (`src/…`, `scripts/…`) exists', (page) => {
    const markdown = readFileSync(join(ROOT, page), 'utf8');
    const named = [...markdown.matchAll(/`((?:src|daemon|commands|scripts|templates|test|bench|bin|docs)\/[^`\s*…]*)`/g)].map(
      (m) => m[1] as string,
    );
    expect(named.filter((path) => !existsSync(join(ROOT, path)))).toEqual([]);
  });
});
