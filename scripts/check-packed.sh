#!/usr/bin/env bash
# Installs berth as an operator would from a package (npm pack, then npm install -g of the
# tarball) into a temporary prefix, with the install scripts of its native addons allowed, and
# checks that it runs: `berth init`, then `berth doctor --json` (which may exit 1 for reasons
# of this machine: no VM image, no firewall) must say that ssh2's native crypto is in use and
# that keytar loaded. Needs a build (npm run build). Usage: bash scripts/check-packed.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/node-env.sh
. scripts/node-env.sh

die() { echo "check-packed: $*" >&2; exit 1; }
[ -f dist/commands/init.js ] || die "no build: run npm run build first"

work=$(mktemp -d "${TMPDIR:-/tmp}/berth-packed.XXXXXX")
trap 'rm -rf "$work"' EXIT
start=$(date +%s)

tarball=$(npm pack --silent --pack-destination "$work" | tail -n 1)
# npm 11 runs no install scripts in a global install unless they are allowed: without these,
# ssh2 falls back to pure JS ciphers and the keychain is missing, both without a word.
npm install -g --prefix "$work/prefix" --allow-scripts=ssh2,keytar,cpu-features \
  --no-audit --no-fund --loglevel=error "$work/$tarball" >"$work/install.log" 2>&1 ||
  { cat "$work/install.log" >&2; die "npm install -g $tarball failed"; }

bin="$work/prefix/bin/berth"
[ -x "$bin" ] || die "the install made no $bin"
# What the daemon's web server serves is bundled at build time (no CDN) and must be in the package,
# with the modules the web terminal loads.
pkg="$work/prefix/lib/node_modules/berth"
for asset in xterm.js xterm.css addon-fit.js terminal.js landing.js page.css; do
  [ -s "$pkg/dist/web/assets/$asset" ] || die "the package lacks dist/web/assets/$asset (npm run build bundles it)"
done
(cd "$pkg" && node -e 'for (const m of ["@xterm/headless", "@xterm/addon-serialize", "@fastify/websocket"]) require.resolve(m)') ||
  die "the installed package cannot load the web terminal's modules"
export BERTH_HOME="$work/home"
"$bin" init >/dev/null || die "berth init failed"
set +e
"$bin" doctor --json >"$work/doctor.json" 2>"$work/doctor.err"
code=$?
set -e
[ "$code" -le 1 ] || { cat "$work/doctor.err" >&2; die "berth doctor exited $code"; }
node - "$work/doctor.json" <<'JS' || die "the packed install lacks its native addons (see above)"
const report = JSON.parse(require('node:fs').readFileSync(process.argv[2], 'utf8'));
const { keychain, sshCrypto } = report.native;
console.log(`check-packed: ssh crypto: ${sshCrypto.detail}; keychain: ${keychain.inUse ? 'in use' : 'not available'} (${keychain.detail})`);
let ok = report.stateFile.ok && sshCrypto.native;
// No Secret Service on a CI machine is fine; keytar that did not build or load is not.
if (/keytar is not installed/.test(keychain.detail)) ok = false;
process.exit(ok ? 0 : 1);
JS
echo "check-packed: $tarball installs with npm install -g and runs ($(($(date +%s) - start)) s)"
