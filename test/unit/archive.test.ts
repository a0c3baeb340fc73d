import { gzipSync } from 'node:zlib';
import { extract, pack } from 'tar-stream';
import { describe, expect, it } from 'vitest';
import yazl from 'yazl';
import { cleanArchive } from '../../src/docker/archive.js';
import { ArchiveRefusal, ArchiveRules, cleanPath, linkLands } from '../../src/domain/archive-paths.js';
import { BerthError } from '../../src/errors.js';

type TarEntry = {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'fifo';
  data?: string | Buffer;
  linkname?: string;
  mode?: number;
};

async function tar(entries: TarEntry[], gzip = true): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise((r) => p.on('end', r));
  for (const e of entries) {
    const type = e.type ?? 'file';
    if (type === 'file')
      p.entry({ name: e.name, mode: e.mode ?? 0o644 }, typeof e.data === 'string' ? Buffer.from(e.data) : (e.data ?? Buffer.alloc(0)));
    else p.entry({ name: e.name, type, linkname: e.linkname, mode: e.mode ?? 0o755 });
  }
  p.finalize();
  await done;
  const raw = Buffer.concat(chunks);
  return gzip ? gzipSync(raw) : raw;
}

async function zip(entries: { name: string; data?: Buffer | string; symlinkTo?: string; dir?: boolean }[]): Promise<Buffer> {
  const z = new yazl.ZipFile();
  for (const e of entries) {
    if (e.dir) z.addEmptyDirectory(e.name);
    else if (e.symlinkTo !== undefined) z.addBuffer(Buffer.from(e.symlinkTo), e.name, { mode: 0o120777 });
    else z.addBuffer(typeof e.data === 'string' ? Buffer.from(e.data) : (e.data ?? Buffer.alloc(0)), e.name);
  }
  z.end();
  const chunks: Buffer[] = [];
  for await (const c of z.outputStream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function listTar(data: Buffer) {
  const x = extract();
  x.end(data);
  const out: { name: string; type: string; mode: number; uid: number; linkname: string | null; data: string }[] = [];
  for await (const e of x) {
    const chunks: Buffer[] = [];
    for await (const c of e) chunks.push(c as Buffer);
    out.push({
      name: e.header.name,
      type: e.header.type ?? '',
      mode: (e.header.mode ?? 0) & 0o7777,
      uid: e.header.uid ?? -1,
      linkname: e.header.linkname ?? null,
      data: Buffer.concat(chunks).toString(),
    });
  }
  return out;
}

const limits = { maxEntries: 100, maxBytes: 10 * 1024 * 1024 };

async function refusal(data: Buffer, l = limits): Promise<BerthError> {
  const err = await cleanArchive(data, l).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, 'the archive should have been refused').toBeInstanceOf(BerthError);
  return err as BerthError;
}

describe('entry paths', () => {
  it('keeps relative paths inside, cleaned; refuses the rest with a reason', () => {
    expect(cleanPath('./a//b/./c')).toBe('a/b/c');
    expect(cleanPath('./')).toBe('');
    for (const [name, reason] of [
      ['/etc/passwd', /absolute/],
      ['a/../../x', /\.\./],
      ['..', /\.\./],
      ['C:/x', /drive/],
      ['a\\..\\b', /backslash/],
      ['a\nb', /control/],
      [`${'x'.repeat(300)}/y`, /too long/],
    ] as const) {
      expect(() => cleanPath(name)).toThrow(reason);
    }
  });
  it('follows a link lexically from where it is, and says when it leaves', () => {
    expect(linkLands('a/b/l', '../c')).toBe('a/c');
    expect(linkLands('a/l', '..')).toBe('');
    expect(linkLands('l', '..')).toBeNull();
    expect(linkLands('a/l', '../../x')).toBeNull();
    expect(linkLands('l', '/etc')).toBeNull();
  });
  it('refuses a path through a link, a path named twice, and a hard link to nothing before it', () => {
    const rules = new ArchiveRules(limits);
    rules.check({ name: 'sub/', kind: 'directory' });
    rules.check({ name: 'sub/up', kind: 'symlink', target: '..' });
    expect(() => rules.check({ name: 'sub/up/x', kind: 'file' })).toThrow(ArchiveRefusal);
    rules.check({ name: 'f', kind: 'file' });
    expect(() => rules.check({ name: 'f', kind: 'symlink', target: '.' })).toThrow(/twice/);
    expect(() => rules.check({ name: 'h', kind: 'hardlink', target: 'nothing' })).toThrow(/hard link/);
    expect(rules.check({ name: 'h2', kind: 'hardlink', target: 'f' })).toBe('h2');
    expect(rules.check({ name: 'sub/', kind: 'directory' })).toBe('sub');
  });
});

describe('a user’s archive as a clean tar', () => {
  it('passes files, folders and links inside, byte for byte, owned by the VM user with plain modes', async () => {
    const bytes = Buffer.from(Array.from({ length: 3000 }, (_, n) => n % 251));
    const input = await tar([
      { name: './', type: 'directory' },
      { name: './app/', type: 'directory' },
      { name: './app/main.py', data: 'print("hi")\n', mode: 0o4755 },
      { name: './app/data.bin', data: bytes },
      { name: './app/cfg', type: 'symlink', linkname: 'data.bin' },
      { name: './app/again', type: 'link', linkname: 'app/data.bin' },
      { name: './requirements.txt', data: 'requests\n' },
    ]);
    const clean = await cleanArchive(input, limits);
    expect(clean).toMatchObject({ entries: 6, bytes: 3000 + 12 + 9 });
    const out = await listTar(clean.tar);
    expect(out.map((e) => [e.name, e.type])).toEqual([
      ['app', 'directory'],
      ['app/main.py', 'file'],
      ['app/data.bin', 'file'],
      ['app/cfg', 'symlink'],
      ['app/again', 'link'],
      ['requirements.txt', 'file'],
    ]);
    // setuid is gone: 0755, not 04755.
    expect(out.find((e) => e.name === 'app/main.py')).toMatchObject({ mode: 0o755, uid: 1000, data: 'print("hi")\n' });
    expect(out.find((e) => e.name === 'app/data.bin')?.data).toBe(bytes.toString());
    expect(out.find((e) => e.name === 'requirements.txt')?.mode).toBe(0o644);
  });

  it('reads plain tar and zip the same way, and knows the format by its bytes, not its name', async () => {
    const plain = await cleanArchive(await tar([{ name: 'a.txt', data: 'a' }], false), limits);
    expect((await listTar(plain.tar)).map((e) => e.name)).toEqual(['a.txt']);
    const z = await cleanArchive(
      await zip([
        { name: 'bot/', dir: true },
        { name: 'bot/main.js', data: 'x' },
        { name: 'bot/l', symlinkTo: 'main.js' },
      ]),
      limits,
    );
    expect((await listTar(z.tar)).map((e) => [e.name, e.type, e.linkname])).toEqual([
      ['bot', 'directory', null],
      ['bot/main.js', 'file', null],
      ['bot/l', 'symlink', 'main.js'],
    ]);
    expect((await refusal(Buffer.from('just some text, not an archive'))).code).toBe('ARCHIVE_UNREADABLE');
  });

  it('refuses ../, absolute paths, links and hard links out, devices, and paths through links — naming the entry', async () => {
    const cases: [TarEntry[], RegExp][] = [
      [[{ name: '../evil', data: 'x' }], /climbs out.*\.\.\/evil/],
      [[{ name: '/etc/cron.d/evil', data: 'x' }], /absolute/],
      [[{ name: 'ok/../../evil', data: 'x' }], /climbs out/],
      [[{ name: 'l', type: 'symlink', linkname: '../../etc' }], /link points outside/],
      [[{ name: 'l', type: 'symlink', linkname: '/etc/passwd' }], /link points outside/],
      [[{ name: 'h', type: 'link', linkname: '../../etc/passwd' }], /climbs out/],
      [
        [
          { name: 'h', type: 'link', linkname: 'later' },
          { name: 'later', data: 'x' },
        ],
        /hard link/,
      ],
      [[{ name: 'dev', type: 'character-device' }], /devices/],
      [
        [
          { name: 'd', type: 'directory' },
          { name: 'd/up', type: 'symlink', linkname: '..' },
          { name: 'd/up/x', data: 'x' },
        ],
        /goes through a link/,
      ],
      [
        [
          { name: 'f', data: 'x' },
          { name: 'f', type: 'symlink', linkname: '.' },
        ],
        /twice/,
      ],
    ];
    for (const [entries, reason] of cases) {
      const err = await refusal(await tar(entries));
      expect(err.code).toBe('ARCHIVE_UNSAFE');
      expect(err.message).toMatch(/nothing was unpacked/);
      expect(err.message).toMatch(reason);
    }
    // yazl will not write "../" itself: the name is swapped in the bytes (same length; CRCs cover the data only).
    const forged = Buffer.from(
      (await zip([{ name: 'ab/evil.txt', data: 'x' }])).toString('latin1').replaceAll('ab/evil.txt', '../evil.txt'),
      'latin1',
    );
    expect((await refusal(forged)).code).toBe('ARCHIVE_UNSAFE');
    expect((await refusal(await zip([{ name: 'l', symlinkTo: '../../etc/shadow' }]))).code).toBe('ARCHIVE_UNSAFE');
  });

  it('stops a zip bomb and a gzip bomb as the bytes inflate, and caps the entries', async () => {
    const zeros = Buffer.alloc(40 * 1024 * 1024);
    const small = { maxEntries: 100, maxBytes: 5 * 1024 * 1024 };
    const z = await zip([{ name: 'zeros', data: zeros }]);
    expect(z.length).toBeLessThan(1024 * 1024);
    expect((await refusal(z, small)).message).toMatch(/unpack to more than 5242880 bytes/);
    const g = await tar([{ name: 'zeros', data: zeros }]);
    expect(g.length).toBeLessThan(1024 * 1024);
    expect((await refusal(g, small)).message).toMatch(/unpack to more than/);
    const many = await tar(Array.from({ length: 30 }, (_, n) => ({ name: `f${n}`, data: 'x' })));
    expect((await refusal(many, { maxEntries: 20, maxBytes: 1000 })).message).toMatch(/more than 20 entries/);
  });
});
