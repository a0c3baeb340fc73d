// Bundles what the daemon's web pages load into dist/web/assets (no CDN at run time): xterm.js and
// its fit addon, asciinema-player (the replay page's; its self-contained bundle, the terminal
// emulator's WebAssembly inside it, so no worker file) — their browser builds, from node_modules —
// and berth's own page scripts and styles (daemon/web/assets). Run by `npm run build`; `npm pack` ships dist.
import { copyFile, mkdir, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'web', 'assets');
await mkdir(out, { recursive: true });
const vendor = {
  'xterm.js': 'node_modules/@xterm/xterm/lib/xterm.js',
  'xterm.css': 'node_modules/@xterm/xterm/css/xterm.css',
  'addon-fit.js': 'node_modules/@xterm/addon-fit/lib/addon-fit.js',
  'asciinema-player.js': 'node_modules/asciinema-player/dist/bundle/asciinema-player.min.js',
  'asciinema-player.css': 'node_modules/asciinema-player/dist/bundle/asciinema-player.css',
};
for (const [name, from] of Object.entries(vendor)) await copyFile(join(root, from), join(out, name));
const own = (await readdir(join(root, 'daemon', 'web', 'assets'))).filter((f) => /\.(js|css)$/.test(f));
for (const name of own) await copyFile(join(root, 'daemon', 'web', 'assets', name), join(out, name));
console.error(`dist/web/assets: ${Object.keys(vendor).length + own.length} files`);
