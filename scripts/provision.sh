#!/usr/bin/env bash
# Installs what berth's tests need on a fresh Debian machine and starts a Docker engine:
# Debian packages, a current Node LTS (scripts/node-runtime.sh, into a prefix of its own when the
# machine's Node is older) and, once node_modules is there, a check that the native addons load.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v git >/dev/null 2>&1 || need+=(git)
command -v curl >/dev/null 2>&1 || need+=(curl ca-certificates)
# node-gyp builds ssh2's crypto binding and keytar from source.
command -v make >/dev/null 2>&1 || need+=(make)
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
command -v tmux >/dev/null 2>&1 || need+=(tmux)
# keytar (the OS keychain for the bot token) builds from source against libsecret;
# its tests run a Secret Service in a private D-Bus session.
[ -f /usr/include/libsecret-1/libsecret/secret.h ] || need+=(libsecret-1-dev)
command -v dbus-run-session >/dev/null 2>&1 || need+=(dbus)
command -v gnome-keyring-daemon >/dev/null 2>&1 || need+=(gnome-keyring)
# OpenSSH's sshd: the baseline of the SSH gateway benchmark (never started as a service by berth).
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
# The web terminal's browser tests drive Debian's Chromium (headless, through playwright-core).
[ -x /usr/bin/chromium ] || need+=(chromium)
# Backups of homes: restic (berth makes its backup image from the host's binary).
command -v restic >/dev/null 2>&1 || need+=(restic)
if [ ${#need[@]} -gt 0 ]; then
  echo "provision: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Never Debian's npm: its node-gyp builds addons against Debian's Node (18), whatever Node runs.
bash scripts/node-runtime.sh
# shellcheck source=scripts/node-env.sh
. scripts/node-env.sh
echo "provision: node $(node -v) ($(command -v node)), npm $(npm -v 2>/dev/null)"
if [ -d node_modules/ssh2 ]; then
  node scripts/check-native.js --keytar || echo "provision: run npm ci again under this Node (. scripts/node-env.sh first)" >&2
fi

bash scripts/docker-engine.sh
