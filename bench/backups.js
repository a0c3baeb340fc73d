// Backups of a home against what an operator would otherwise run (a tarball with gzip), in one
// run: a first backup, a second of the unchanged home (deduplication), and the bytes each stores.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { benchHome, median, ms } from './measure.js';

export const title = 'Backups of a home against a tarball';

const RUNS = Number(process.env.BENCH_BACKUP_RUNS || 3);
const MB = 1e6;

const say = (text) => process.stderr.write(`bench backups: ${text}\n`);

export async function run({ bin, root }) {
  const { home, berth, cleanup } = benchHome({ bin, root, prefix: 'b' });
  try {
    berth('plan', 'add', 'bench', '--disk', '0');
    berth('user', 'allow', 'bench', '--plan', 'bench');
    berth('vm', 'create', 'bench');
    // 40 MB that does not compress, 40 MB of text that does, 2 000 small files.
    berth(
      'vm',
      'exec',
      'bench',
      '--',
      'sh',
      '-c',
      'head -c 40000000 /dev/urandom > ~/random.bin && seq 1 5000000 > ~/text.txt && mkdir -p ~/src && for i in $(seq 1 2000); do echo "file $i" > ~/src/f$i.txt; done',
    );
    berth('backup', 'init');
    const instance = JSON.parse(readFileSync(join(home, 'state.json'), 'utf8')).instanceId;
    const volume = JSON.parse(readFileSync(join(home, 'state.json'), 'utf8')).homes[0].volume;
    const timed = (what) => {
      const start = performance.now();
      const out = what();
      return { ms: performance.now() - start, out };
    };
    const backup = () => JSON.parse(berth('home', 'backup', 'bench', '--json'));
    // The operator's alternative: a gzip'd tarball of the home's volume, through the engine.
    const tarball = () => {
      const r = spawnSync(
        'docker',
        [
          'run',
          '--rm',
          '--network',
          'none',
          '-v',
          `${volume}:/data:ro`,
          '--label',
          `dev.berth.instance=${instance}`,
          'berth-base:busybox',
          'sh',
          '-c',
          'tar czf - -C /data . | wc -c',
        ],
        { encoding: 'utf8' },
      );
      if (r.status !== 0) throw new Error(r.stderr);
      return Number(r.stdout.trim());
    };
    say('first backup');
    const first = timed(backup);
    const seconds = [];
    const tars = [];
    let added = 0;
    for (let i = 0; i < RUNS; i++) {
      say(`unchanged backup ${i + 1}, tarball ${i + 1}`);
      const again = timed(backup);
      seconds.push(again.ms);
      added = Math.max(added, again.out.bytesAdded);
      tars.push(timed(tarball));
    }
    const tarMs = median(tars.map((t) => t.ms));
    const tarBytes = tars[0].out;
    const repo = Number(JSON.parse(berth('backup', 'status', '--json')).bytes);
    execFileSync('true');
    return [
      '| run | time (median) | × tar czf | stored |',
      '|---|---|---|---|',
      `| \`tar czf\` of the home (each run a whole new tarball) | ${ms(tarMs)} | 1.00× | ${(tarBytes / MB).toFixed(1)} MB each |`,
      `| first backup (restic: encrypted, compressed) | ${ms(first.ms)} | ${(first.ms / tarMs).toFixed(2)}× | ${(first.out.bytesAdded / MB).toFixed(1)} MB new, before compression |`,
      `| backup of the unchanged home | ${ms(median(seconds))} | ${(median(seconds) / tarMs).toFixed(2)}× | ${added} bytes new |`,
      '',
      `A home of ${(first.out.bytesProcessed / MB).toFixed(1)} MB (40 MB random, a 39 MB text file, 2 000 small files), minimal VM, local repository. After ${RUNS + 1} backups the repository holds ${(repo / MB).toFixed(1)} MB; ${RUNS + 1} tarballs would hold ${(((RUNS + 1) * tarBytes) / MB).toFixed(1)} MB. Backup times include berth's start and restic's container.`,
    ].join('\n');
  } finally {
    cleanup();
  }
}
