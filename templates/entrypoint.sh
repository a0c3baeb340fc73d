#!/bin/sh
# berth VM entrypoint: the ENTRYPOINT of every berth VM image. POSIX sh (busybox ash, dash, bash).
#
# Runs as root (under docker-init) at every container start, and:
#   1. makes the account $BERTH_USER with uid 1000 / gid 1000 and home /home/$BERTH_USER, removing
#      any other account that holds uid 1000 or gid 1000 (ubuntu:24.04's "ubuntu"); idempotent;
#   2. fills an empty home (a fresh volume) from /etc/skel; chowns the home directory to 1000:1000;
#   3. writes /etc/sudoers.d/berth (passwordless sudo) when BERTH_SUDO=1, removes it otherwise;
#   4. touches /run/berth-ready and idles until stopped (SIGTERM ends it at once).
# It never installs anything.
#
# Env: BERTH_USER  the login, ^[a-z][a-z0-9-]{1,31}$ (required)
#      BERTH_SUDO  1 = passwordless sudo; anything else = none
set -eu

uid=1000
gid=1000
ready=/run/berth-ready

log() { echo "berth-entrypoint: $*" >&2; }
die() {
  log "$*"
  exit 1
}
has() { command -v "$1" >/dev/null 2>&1; }

user=${BERTH_USER:-}
[ -n "$user" ] || die "BERTH_USER is not set (the login of the VM's user)"
case $user in
[a-z]*) ;;
*) die "BERTH_USER '$user' must start with a lowercase letter" ;;
esac
case $user in
*[!a-z0-9-]*) die "BERTH_USER '$user' may hold only a-z, 0-9 and '-'" ;;
esac
if [ ${#user} -lt 2 ] || [ ${#user} -gt 32 ]; then
  die "BERTH_USER '$user' must be 2 to 32 characters long"
fi

home=/home/$user
shell=/bin/sh
[ -x /bin/bash ] && shell=/bin/bash

mkdir -p /run
rm -f "$ready"

# --- account database lookups (plain files: busybox has no getent) ---------------------------------

# nth N ARG...: sets $nth to the Nth ARG (empty when there are fewer).
nth() {
  shift "$1"
  nth=${1:-}
}

# field FILE KEYFIELD VALUE OUTFIELD: OUTFIELD of the first line of FILE whose KEYFIELD is VALUE
# (fields numbered from 1, as in passwd(5) and group(5)).
field() {
  [ -f "$1" ] || return 0
  while IFS=: read -r f1 f2 f3 f4 f5 f6 f7 || [ -n "${f1:-}" ]; do
    nth "$2" "$f1" "$f2" "$f3" "$f4" "$f5" "$f6" "$f7"
    if [ "$nth" = "$3" ]; then
      nth "$4" "$f1" "$f2" "$f3" "$f4" "$f5" "$f6" "$f7"
      printf '%s\n' "$nth"
      return 0
    fi
  done <"$1"
}
user_with_uid() { field /etc/passwd 3 "$1" 1; }
group_with_gid() { field /etc/group 3 "$1" 1; }
passwd_of() { field /etc/passwd 1 "$1" "$2"; } # passwd_of NAME FIELD
gid_of_group() { field /etc/group 1 "$1" 3; }

# drop_line FILE NAME: removes NAME's entry from FILE, keeping the file (and its mode) in place.
drop_line() {
  [ -f "$1" ] || return 0
  grep -v "^$2:" "$1" >"$1.berth-new" || :
  cat "$1.berth-new" >"$1"
  rm -f "$1.berth-new"
}

# --- account changes: shadow-utils (Debian/Ubuntu), else busybox, else the files themselves -------

del_user() {
  log "removing account '$1' (uid $(passwd_of "$1" 3))"
  if has userdel; then
    userdel "$1"
  elif has deluser; then
    deluser "$1"
  else
    drop_line /etc/passwd "$1"
    drop_line /etc/shadow "$1"
  fi
}

del_group() {
  log "removing group '$1' (gid $(gid_of_group "$1"))"
  if has groupdel; then
    groupdel "$1"
  elif has delgroup; then
    delgroup "$1"
  else
    drop_line /etc/group "$1"
    drop_line /etc/gshadow "$1"
  fi
}

add_group() {
  if has groupadd; then
    groupadd -g "$gid" "$user"
  elif has addgroup; then
    addgroup -g "$gid" "$user"
  else
    printf '%s:x:%s:\n' "$user" "$gid" >>/etc/group
    [ ! -f /etc/gshadow ] || printf '%s:!::\n' "$user" >>/etc/gshadow
  fi
}

add_user() {
  if has useradd; then
    # -M: the home is the volume, never created or filled here; '*': no password, not "locked".
    useradd -u "$uid" -g "$gid" -M -d "$home" -s "$shell" -c "$user" -p '*' "$user"
  elif has adduser; then
    adduser -D -H -u "$uid" -G "$user" -h "$home" -s "$shell" -g "$user" "$user"
  else
    printf '%s:x:%s:%s:%s:%s:%s\n' "$user" "$uid" "$gid" "$user" "$home" "$shell" >>/etc/passwd
    [ ! -f /etc/shadow ] || printf '%s:*:%s:0:99999:7:::\n' "$user" "$(($(date +%s) / 86400))" >>/etc/shadow
  fi
}

account_ok() {
  [ "$(user_with_uid "$uid")" = "$user" ] &&
    [ "$(passwd_of "$user" 4)" = "$gid" ] &&
    [ "$(passwd_of "$user" 6)" = "$home" ] &&
    [ "$(group_with_gid "$gid")" = "$user" ]
}

if ! account_ok; then
  # Clear the way: our own stale entries, then whoever holds uid/gid 1000. Re-read after each step:
  # removing a user may remove its personal group as well.
  [ -z "$(passwd_of "$user" 1)" ] || del_user "$user"
  other=$(user_with_uid "$uid")
  [ -z "$other" ] || del_user "$other"
  [ -z "$(gid_of_group "$user")" ] || del_group "$user"
  other=$(group_with_gid "$gid")
  [ -z "$other" ] || del_group "$other"

  add_group
  add_user
  account_ok || die "could not set up the account '$user' with uid $uid / gid $gid"
  log "account '$user' (uid $uid, gid $gid, shell $shell) ready"
fi

# --- home ------------------------------------------------------------------------------------------

mkdir -p "$home"
if [ -z "$(ls -A "$home")" ] && [ -d /etc/skel ]; then
  cp -a /etc/skel/. "$home/"
  chown -R "$uid:$gid" "$home" # only skel's files are in there
  log "filled the empty home $home from /etc/skel"
fi
chown "$uid:$gid" "$home"

# --- sudo ------------------------------------------------------------------------------------------

sudoers=/etc/sudoers.d/berth
if [ "${BERTH_SUDO:-}" = 1 ] && [ -d /etc/sudoers.d ]; then
  # sudo skips files whose name holds a '.', so the half-written one is never read.
  printf '%s ALL=(ALL) NOPASSWD:ALL\n' "$user" >"$sudoers.new"
  chmod 0440 "$sudoers.new"
  mv -f "$sudoers.new" "$sudoers"
else
  [ "${BERTH_SUDO:-}" != 1 ] || log "BERTH_SUDO=1 but this image has no /etc/sudoers.d; no sudo"
  rm -f "$sudoers" "$sudoers.new"
fi

# --- ready: idle until stopped ---------------------------------------------------------------------

touch "$ready"
log "ready (user $user, sudo $([ -f "$sudoers" ] && echo yes || echo no))"

# The idle process runs in the background and this shell waits for it, so that SIGTERM ends the
# container at once even where the shell is PID 1 (no docker-init). `sleep infinity` is GNU's and
# busybox's (1.35 with FEATURE_FANCY_SLEEP); a sleep that rejects it exits at once, and then
# `tail -f /dev/null` does the idling instead.
idle=
trap 'kill "$idle" 2>/dev/null; exit 0' TERM INT HUP
sleep infinity 2>/dev/null &
idle=$!
wait "$idle" || :
tail -f /dev/null &
idle=$!
wait "$idle" || :
