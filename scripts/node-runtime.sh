#!/usr/bin/env bash
# Installs the Node.js berth runs on into a prefix of its own, from the npm registry, when the
# machine's `node` is older than berth needs. The system's `node` is left alone.
#
#   node     the npm registry's `node` package is a shim whose install script fetches the
#            platform package `node-linux-<arch>` (the official binary and its C++ headers);
#            that platform package is unpacked directly, so no older Node runs anything here
#   npm      npm from the registry, with its standard node-gyp, run by that Node; node-env.sh
#            points node-gyp at the prefix's headers, so native addons (ssh2's crypto, keytar)
#            build for this Node without downloading anything from nodejs.org
#
# The layout is that of an official Node tarball: PREFIX/bin/{node,npm,npx}, PREFIX/include/node,
# PREFIX/lib/node_modules/npm. Put PREFIX/bin first on PATH (`. scripts/node-env.sh` does).
# Idempotent: an existing prefix with the wanted versions is kept.
#
# Usage: bash scripts/node-runtime.sh [--force]
#   BERTH_NODE_VERSION (default below), BERTH_NPM_VERSION, BERTH_NODE_PREFIX
#   (default /opt/berth-node as root, else ~/.local/berth-node).
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/node-env.sh
. scripts/node-env.sh

node_version=${BERTH_NODE_VERSION:-22.23.3}
npm_version=${BERTH_NPM_VERSION:-11.21.2}
min_major=22
registry=${npm_config_registry:-https://registry.npmjs.org}
registry=${registry%/}
prefix=$BERTH_NODE_PREFIX
force=0
[ "${1:-}" = --force ] && force=1

die() { echo "node-runtime: $*" >&2; exit 1; }

major_of() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

# The machine's own Node (outside the prefix) is new enough: nothing to install.
if [ "$force" -eq 0 ] && [ ! -x "$prefix/bin/node" ]; then
  system_node=$(PATH=${PATH#"$prefix/bin:"} command -v node || true)
  if [ -n "$system_node" ] && [ "$(major_of "$system_node")" -ge "$min_major" ] && PATH=${PATH#"$prefix/bin:"} command -v npm >/dev/null; then
    echo "node-runtime: $system_node is $("$system_node" -v); nothing to install"
    exit 0
  fi
fi

if [ "$force" -eq 0 ] && [ -x "$prefix/bin/node" ] && [ "$("$prefix/bin/node" -v)" = "v$node_version" ] &&
  [ -x "$prefix/bin/npm" ] && [ "$("$prefix/bin/npm" -v 2>/dev/null)" = "$npm_version" ] &&
  [ -f "$prefix/include/node/common.gypi" ]; then
  echo "node-runtime: $prefix has Node v$node_version and npm $npm_version"
  exit 0
fi

command -v curl >/dev/null || die "curl is missing (apt-get install curl ca-certificates)"
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64) arch=arm64 ;;
  *) die "no node-linux package for $(uname -m)" ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/berth-node.XXXXXX")
trap 'rm -rf "$work"' EXIT

# fetch PACKAGE VERSION: downloads the registry tarball into $work and checks its sha512 against
# the registry's metadata for that version; prints the tarball's path.
fetch() {
  local name=$1 version=$2 meta url integrity want got file
  meta=$(curl -fsSL "$registry/$name/$version") || die "the registry has no $name@$version ($registry)"
  url=$(printf '%s' "$meta" | grep -o '"tarball": *"[^"]*"' | head -n1 | sed 's/.*"\(http[^"]*\)"/\1/')
  integrity=$(printf '%s' "$meta" | grep -o '"integrity": *"sha512-[^"]*"' | head -n1 | sed 's/.*"sha512-\([^"]*\)"/\1/')
  [ -n "$url" ] && [ -n "$integrity" ] || die "no tarball or sha512 in the registry's metadata of $name@$version"
  file="$work/$name-$version.tgz"
  curl -fsSL -o "$file" "$url" || die "could not download $url"
  want=$(printf '%s' "$integrity" | base64 -d | od -An -v -tx1 | tr -d ' \n')
  got=$(sha512sum "$file" | cut -d' ' -f1)
  [ "$want" = "$got" ] || die "$name@$version: the download does not match the registry's sha512"
  printf '%s\n' "$file"
}

echo "node-runtime: installing Node v$node_version and npm $npm_version into $prefix (from $registry)"
node_tgz=$(fetch "node-linux-$arch" "$node_version")
npm_tgz=$(fetch npm "$npm_version")

# Build the new prefix next to the old one and swap it in, so that a failure leaves the old one.
staging="$prefix.new"
rm -rf "$staging"
mkdir -p "$staging/bin" "$staging/lib/node_modules"
tar -xzf "$node_tgz" -C "$work" && mv "$work/package" "$work/node"
mv "$work/node/bin/node" "$staging/bin/node"
mv "$work/node/include" "$staging/include"
[ -d "$work/node/share" ] && mv "$work/node/share" "$staging/share"
tar -xzf "$npm_tgz" -C "$work" && mv "$work/package" "$staging/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$staging/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$staging/bin/npx"
[ "$("$staging/bin/node" -v)" = "v$node_version" ] || die "the new node does not run"
[ "$(PATH="$staging/bin:$PATH" "$staging/bin/npm" -v)" = "$npm_version" ] || die "the new npm does not run"

rm -rf "$prefix.old"
[ -e "$prefix" ] && mv "$prefix" "$prefix.old"
mv "$staging" "$prefix"
rm -rf "$prefix.old"
echo "node-runtime: $prefix/bin/node $("$prefix/bin/node" -v), npm $("$prefix/bin/npm" -v); put $prefix/bin first on PATH"
