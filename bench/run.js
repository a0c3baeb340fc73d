// npm run bench [-- SECTION…]: runs the benchmark sections and rewrites their parts of BENCHMARKS.md.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SECTIONS = [
  'startup',
  'vms',
  'daemon',
  'telegram',
  'discord',
  'ssh',
  'web',
  'apps',
  'deploys',
  'recording',
  'backups',
  'scale',
  'swarm',
];
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const runs = Number(process.env.BENCH_RUNS || 15);
const file = join(root, 'BENCHMARKS.md');

let doc = existsSync(file)
  ? readFileSync(file, 'utf8')
  : '# Benchmarks\n\nWritten by `npm run bench` (all sections) or `npm run bench -- SECTION`. Each section says when and where it was measured.\n';

for (const name of wanted.length ? wanted : SECTIONS) {
  if (!SECTIONS.includes(name)) throw new Error(`unknown section ${name}; sections: ${SECTIONS.join(', ')}`);
  const section = await import(`./${name}.js`);
  console.error(`bench: ${section.title}…`);
  const body = await section.run({ bin: join(root, 'bin', 'run.js'), runs, root });
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}`;
  const block = [
    `<!-- bench:${name} -->`,
    `## ${section.title}`,
    '',
    `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${machine} with \`npm run bench -- ${name}\`.`,
    '',
    body,
    `<!-- /bench:${name} -->`,
  ].join('\n');
  const pattern = new RegExp(`<!-- bench:${name} -->[\\s\\S]*?<!-- /bench:${name} -->`);
  doc = pattern.test(doc) ? doc.replace(pattern, block) : `${doc.trimEnd()}\n\n${block}\n`;
  console.log(body);
}
writeFileSync(file, doc);
