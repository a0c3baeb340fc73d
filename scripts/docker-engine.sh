#!/usr/bin/env bash
# Makes sure a Docker engine answers on this machine: installs docker.io when the
# daemon is missing and starts dockerd in the background when nothing listens.
set -euo pipefail

sock=/var/run/docker.sock
log=${BERTH_DOCKERD_LOG:-/var/log/berth-dockerd.log}

if docker version >/dev/null 2>&1; then
  echo "docker-engine: engine already answers"
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  echo "docker-engine: installing docker.io"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io >/dev/null
fi

if [ -n "${DOCKER_HOST:-}" ]; then
  echo "docker-engine: DOCKER_HOST=$DOCKER_HOST does not answer; not starting a local engine" >&2
  exit 1
fi

echo "docker-engine: starting dockerd (log: $log)"
setsid nohup dockerd >"$log" 2>&1 </dev/null &

for _ in $(seq 1 120); do
  if [ -S "$sock" ] && docker version >/dev/null 2>&1; then
    echo "docker-engine: engine is up ($(docker version --format '{{.Server.Version}}'))"
    exit 0
  fi
  sleep 0.5
done
echo "docker-engine: dockerd did not come up within 60 s; last log lines:" >&2
tail -n 30 "$log" >&2 || true
exit 1
