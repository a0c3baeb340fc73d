// `berth app deploy` of a small Python bot against what a user would otherwise run: `docker run -d`
// of the same base with the same limits and the script put in (no build), and, with a requirements
// list, against `docker build` of a two-line Dockerfile doing the same pip install (the classic
// builder, which berth does not use: it gives RUN steps more than an app may have). Interleaved.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { benchHome, median, ms } from './measure.js';

export const title = 'App deploys against docker run and docker build';

const RUNS = Number(process.env.BENCH_DEPLOY_RUNS || 5);
const say = (text) => process.stderr.write(`bench deploys: ${text}\n`);
const WHEEL = [
  'import sys, zipfile',
  'z = zipfile.ZipFile(sys.argv[1], "w")',
  'z.writestr("localpkg/__init__.py", "X = 1\\n")',
  'z.writestr("localpkg-1.0.dist-info/METADATA", "Metadata-Version: 2.1\\nName: localpkg\\nVersion: 1.0\\n")',
  'z.writestr("localpkg-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\\nGenerator: bench\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n")',
  'z.writestr("localpkg-1.0.dist-info/RECORD", "")',
  'z.close()',
].join('\n');
const BOT = 'import time\nprint("up", flush=True)\nwhile True:\n    time.sleep(60)\n';

function timed(cmd, args, env, input) {
  const start = performance.now();
  const r = spawnSync(cmd, args, { env, encoding: 'utf8', input });
  const elapsed = performance.now() - start;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return { elapsed, stdout: r.stdout.trim() };
}

export async function run({ bin, root }) {
  const h = benchHome({ bin, root, prefix: 'dep' });
  const docker = (...args) => timed('docker', args, process.env);
  const made = [];
  try {
    spawnSync('bash', [join(root, 'scripts', 'base-images.sh'), 'bookworm'], { stdio: 'ignore' });
    const base = 'berth-app-python:latest';
    if (spawnSync('docker', ['image', 'inspect', base]).status !== 0) {
      say('building the Python app base');
      h.berth('app', 'base', '--runtime', 'python', '--base', 'berth-base:bookworm');
    }
    h.berth('config', 'set', 'apps.python-image', base);
    h.berth('plan', 'add', 'bench', '--apps', '100');
    h.berth('user', 'allow', 'bench', '--plan', 'bench');
    const dir = join(h.dir, 'code');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'main.py'), BOT);
    const withReq = join(h.dir, 'req');
    mkdirSync(withReq, { recursive: true });
    writeFileSync(join(withReq, 'main.py'), BOT);
    // A requirement pip installs with no index: a wheel beside the code.
    spawnSync('python3', ['-c', WHEEL, join(withReq, 'localpkg-1.0-py3-none-any.whl')]);
    writeFileSync(join(withReq, 'requirements.txt'), './localpkg-1.0-py3-none-any.whl\n');
    writeFileSync(
      join(withReq, 'Dockerfile'),
      `FROM ${base}\nCOPY --chown=1000:1000 . /app\nRUN python3 -m venv /app/.venv && /app/.venv/bin/pip install --no-input --no-cache-dir -r requirements.txt\nCMD ["/app/.venv/bin/python", "-u", "main.py"]\n`,
    );
    const limits = [
      '--memory',
      '256m',
      '--memory-swap',
      '256m',
      '--cpus',
      '0.5',
      '--pids-limit',
      '100',
      '--cap-drop',
      'ALL',
      '--security-opt',
      'no-new-privileges',
      '--user',
      '1000:1000',
      '--network',
      h.network,
    ];
    const results = { deploy: [], run: [], deployReq: [], build: [] };
    for (let i = 0; i < RUNS; i++) {
      say(`round ${i + 1} of ${RUNS}`);
      results.deploy.push(timed('node', [bin, 'app', 'deploy', `bench/a${i}`, join(dir, 'main.py'), '--json'], h.env).elapsed);
      const name = `berth-bench-deploy-${process.pid}-${i}`;
      made.push(name);
      results.run.push(
        timed(
          'sh',
          [
            '-c',
            `docker create --name ${name} ${limits.join(' ')} --label dev.berth.bench=deploys ${base} python3 -u /tmp/main.py >/dev/null && docker cp ${join(dir, 'main.py')} ${name}:/tmp/main.py && docker start ${name} >/dev/null`,
          ],
          process.env,
        ).elapsed,
      );
      results.deployReq.push(timed('node', [bin, 'app', 'deploy', `bench/r${i}`, withReq, '--json'], h.env).elapsed);
      const tag = `berth-bench-deploy-${process.pid}:${i}`;
      results.build.push(docker('build', '-q', '--network', h.network, '--label', 'dev.berth.bench=deploys', '-t', tag, withReq).elapsed);
      spawnSync('docker', ['rmi', '-f', tag]);
    }
    const row = (what, berth, floor, baseline) =>
      `| ${what} | ${ms(median(berth))} | ${ms(median(floor))} | ${(median(berth) / median(floor)).toFixed(2)}× | ${baseline} |`;
    return [
      '| deploy | berth | baseline | ratio | baseline command |',
      '|---|---|---|---|---|',
      row(
        'a one-file Python app, to running',
        results.deploy,
        results.run,
        '`docker create` + `docker cp` + `docker start` of the base with the same limits (no build)',
      ),
      row(
        'with a requirements list (one local package)',
        results.deployReq,
        results.build,
        '`docker build` of COPY + `RUN pip install -r` (the classic builder), not started',
      ),
      '',
      `Median of ${RUNS} interleaved runs each, whole processes (berth's include Node and CLI start-up). berth's deploy reads and checks the code, builds in a hardened container under the egress policy (a virtualenv and pip only when there are requirements), commits it, and starts the app with its secrets on stdin; the floor starts a container of the same base with the script copied in.`,
    ].join('\n');
  } finally {
    for (const name of made) spawnSync('docker', ['rm', '-f', name]);
    h.cleanup();
  }
}
