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

# An engine that was killed with hundreds of containers cleans up their shims and
# sandboxes on its next start; containerd can then miss dockerd's 15 s start-up
# deadline (dockerd exits with "timeout waiting for containerd to start"). The
# cleanup carries on where it stopped, so a second or third start gets through.
: >"$log"
for attempt in 1 2 3; do
  echo "docker-engine: starting dockerd (attempt $attempt; log: $log)"
  setsid nohup dockerd >>"$log" 2>&1 </dev/null &
  pid=$!
  for _ in $(seq 1 300); do
    if [ -S "$sock" ] && timeout 10 docker version >/dev/null 2>&1; then
      echo "docker-engine: engine is up ($(docker version --format '{{.Server.Version}}'))"
      exit 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "docker-engine: dockerd exited; last log lines:" >&2
      tail -n 5 "$log" >&2 || true
      break
    fi
    sleep 1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "docker-engine: dockerd did not answer within 300 s; last log lines:" >&2
    tail -n 30 "$log" >&2 || true
    exit 1
  fi
done
echo "docker-engine: dockerd did not start after 3 attempts" >&2
exit 1
