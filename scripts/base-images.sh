#!/usr/bin/env bash
# Builds berth's local base images with `docker import` (no registry needed):
#   berth-base:busybox   a tiny busybox-static rootfs (templates/minimal, fast tests)
#   berth-base:bookworm  a debootstrap --variant=minbase Debian 12 (Dockerfile.vm where
#                        ubuntu:24.04 cannot be pulled)
# Idempotent: an image that already exists is skipped.
# Usage: bash scripts/base-images.sh [busybox] [bookworm]     (default: both)
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
image_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
apt_updated=0
tmpdirs=()

cleanup() {
  local d
  for d in "${tmpdirs[@]+"${tmpdirs[@]}"}"; do
    [ -n "$d" ] && [ -d "$d" ] && rm -rf --one-file-system "$d"
  done
  return 0
}
trap cleanup EXIT

die() { echo "base-images: $*" >&2; exit 1; }

# apt_install PACKAGE...: installs packages, running `apt-get update` once, first.
apt_install() {
  [ "$(id -u)" -eq 0 ] || die "need root to install $*"
  if [ "$apt_updated" -eq 0 ]; then
    # Unreachable third-party sources make `apt-get update` complain; Debian's own is enough.
    apt-get update -qq || echo "base-images: apt-get update reported errors; trying the install anyway" >&2
    apt_updated=1
  fi
  local log
  log=$(mktemp)
  if ! apt-get install -y -qq --no-install-recommends "$@" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    die "apt-get install $* failed"
  fi
  rm -f "$log"
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# new_tmpdir NAME: makes a temp dir, removed on exit, and puts its path in $tmpdir (no subshell,
# so that the cleanup list sees it).
new_tmpdir() {
  tmpdir=$(mktemp -d "${TMPDIR:-/tmp}/berth-base-$1.XXXXXX")
  tmpdirs+=("$tmpdir")
}

build_busybox() {
  local tag=berth-base:busybox root
  [ -x /bin/busybox ] || apt_install busybox-static
  [ -x /bin/busybox ] || die "/bin/busybox is missing after installing busybox-static"

  new_tmpdir busybox
  root=$tmpdir
  chmod 755 "$root" # becomes the image's /: mktemp's 0700 would lock every other user out
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,root,home,run,var/run,dev,proc,sys}
  install -d -m 1777 "$root/tmp"
  chmod 700 "$root/root"
  cp /bin/busybox "$root/bin/busybox"
  # `busybox --install -s DIR` would link to the host's own path of busybox (/usr/bin/busybox on a
  # merged-/usr host), so make the links ourselves: each applet in its usual directory, -> /bin/busybox.
  local a
  while IFS= read -r a; do
    case "$a" in */*) ;; *) continue ;; esac # skip linuxrc and the like
    [ "$a" = bin/busybox ] || [ -e "$root/$a" ] || ln -s /bin/busybox "$root/$a"
  done < <("$root/bin/busybox" --list-full)
  for a in sh id sleep tail cp chown ls grep cut awk touch rm; do
    [ -e "$root/bin/$a" ] || [ -e "$root/usr/bin/$a" ] || die "busybox has no '$a' applet"
  done

  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
  printf 'root:x:0:\n' >"$root/etc/group"
  # busybox adduser also writes /etc/shadow when it exists.
  printf 'root:*:19000:0:99999:7:::\n' >"$root/etc/shadow"
  chmod 644 "$root/etc/passwd" "$root/etc/group"
  chmod 640 "$root/etc/shadow"
  printf '/bin/sh\n' >"$root/etc/shells"

  tar --numeric-owner -C "$root" -c . | docker import --change "ENV PATH=$image_path" --change 'CMD ["/bin/sh"]' - "$tag" >/dev/null

  # The entrypoint must be able to create the user with uid 1000. Debian's busybox builds leave out
  # adduser/addgroup/deluser/delgroup (Debian has its own adduser), so without them the entrypoint
  # edits /etc/passwd, /etc/group and /etc/shadow itself; check whichever path this busybox takes.
  local check out
  # shellcheck disable=SC2016
  check='if command -v adduser >/dev/null 2>&1; then adduser -D -u 1000 -h /home/x -s /bin/sh x;
    else echo "x:x:1000:1000::/home/x:/bin/sh" >>/etc/passwd && echo "x:x:1000:" >>/etc/group; fi && id x'
  if ! out=$(docker run --rm --network none "$tag" sh -c "$check" 2>&1) ||
    [ "$out" != "uid=1000(x) gid=1000(x) groups=1000(x)" ]; then
    docker image rm "$tag" >/dev/null 2>&1 || true
    die "$tag: user check failed (${out:-no output}); image removed"
  fi
}

build_bookworm() {
  local tag=berth-base:bookworm root
  command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
  new_tmpdir bookworm
  root=$tmpdir
  chmod 755 "$root" # becomes the image's /: mktemp's 0700 would lock every other user out
  # debootstrap prints a line per package; keep its log only for failures.
  if ! debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >"$root.log" 2>&1; then
    tail -n 30 "$root.log" >&2
    rm -f "$root.log"
    die "debootstrap failed"
  fi
  rm -f "$root.log"
  # Keep the image small and reproducible-ish: no apt lists or package caches.
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
  tar --numeric-owner -C "$root" -c . | docker import --change "ENV PATH=$image_path" - "$tag" >/dev/null
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(busybox bookworm)
for t in "${targets[@]}"; do
  case "$t" in
    busybox | bookworm) ;;
    *) die "unknown image '$t' (expected: busybox, bookworm)" ;;
  esac
done

docker version >/dev/null 2>&1 || die "no Docker engine answers (try: bash scripts/docker-engine.sh)"

for t in "${targets[@]}"; do
  tag="berth-base:$t"
  start=$(date +%s.%N)
  if image_exists "$tag"; then
    status=skipped
  else
    "build_$t"
    status=built
  fi
  secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
  size=$(docker image inspect --format '{{.Size}}' "$tag" | awk '{ printf "%.1f MB", $1 / 1e6 }')
  echo "base-images: $tag $status in ${secs}s ($size)"
done
