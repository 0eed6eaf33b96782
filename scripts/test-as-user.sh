#!/usr/bin/env bash
# The real-VM tests for images, start/ssh/stop and snapshots, run as an unprivileged user, and
# the README's two commands from an empty cache as that user; then checks that nothing the run
# wrote belongs to root or can be read, or its sockets reached, by another unprivileged user.
#
#   sudo bash scripts/test-as-user.sh      (CI runs it as root after scripts/test.sh)
#
# Users (created if missing, left in place: no password, no sudo, nothing of theirs running):
#   qcmdr-ci     the tester: in group kvm, subordinate ids for rootless image builds
#   qcmdr-other  a neighbour who must reach nothing of the tester's
# The tester keeps its test image cache (~/.cache/qcmdr-test) between runs on one machine;
# the two-commands step always starts from an empty ~/.cache/qcmdr of its own.
# QCMDR_USER_TESTS overrides the nextest filter (default: every vm_lifecycle, vm_snapshot,
# vm_run, vm_mounts (virtiofsd unprivileged) and vm_kernel_tree test, and the vm_image
# tests of what a user does with a debian image: build it rootless, boot it, its files'
# owners, a failed and an interrupted build, run on it; the root suite runs the rest of
# vm_image, whose cloud-seed and rebuild tests take minutes each).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

TESTER=qcmdr-ci
OTHER=qcmdr-other
# (nextest names a test module::function: the vm_image filter must name its module.)
FILTER=${QCMDR_USER_TESTS:-'test(/^vm_(lifecycle|snapshot|run|mounts|kernel_tree)::/) | test(/^vm_image::vm_image_(debian|failed|interrupted|run)/)'}
PATH_FOR_USERS=/usr/local/bin:/usr/bin:/bin

log() { printf 'test-as-user: %s\n' "$*" >&2; }
die() { printf 'test-as-user: error: %s\n' "$*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || die "run it as root: it creates the test users"
bash scripts/deps.sh
command -v cargo-nextest >/dev/null ||
  die "cargo-nextest not found (cargo install cargo-nextest): the user runs the tests from its archive"

# --- the users -------------------------------------------------------------------------
getent group kvm >/dev/null || groupadd --system kvm
# The first id after every subordinate range of the machine: a new range overlaps nobody's.
free_sub_start() {
  awk -F: 'BEGIN { next_start = 100000 } NF >= 3 && $2 + $3 > next_start { next_start = $2 + $3 }
           END { print next_start }' /etc/subuid /etc/subgid 2>/dev/null
}
ensure_user() {
  local user=$1
  id -u "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$user"
  if ! grep -q "^$user:" /etc/subuid 2>/dev/null || ! grep -q "^$user:" /etc/subgid 2>/dev/null; then
    local start
    start=$(free_sub_start)
    usermod --add-subuids "$start-$((start + 65535))" --add-subgids "$start-$((start + 65535))" "$user"
  fi
}
ensure_user "$TESTER"
ensure_user "$OTHER"
usermod -a -G kvm "$TESTER"
for group in sudo wheel admin root; do
  if id -nG "$TESTER" | tr ' ' '\n' | grep -qx "$group"; then
    die "$TESTER is in group $group: the tests must run unprivileged"
  fi
done
if command -v sudo >/dev/null && sudo -l -U "$TESTER" 2>/dev/null | grep -q "may run the following"; then
  die "$TESTER may use sudo: the tests must run unprivileged"
fi
tester_home=$(getent passwd "$TESTER" | cut -d: -f6)
tester_uid=$(id -u "$TESTER")

# as USER COMMAND...: COMMAND as USER with a clean login-like environment (its own HOME,
# groups from /etc/group, a regular user's PATH: no sbin).
as() {
  local user=$1 home
  shift
  home=$(getent passwd "$user" | cut -d: -f6)
  runuser -u "$user" -- env -i HOME="$home" USER="$user" LOGNAME="$user" \
    PATH="$PATH_FOR_USERS" LANG=C.UTF-8 TERM=dumb CI="${CI:-}" "$@"
}

if ! as "$TESTER" test -r "$repo/guest/build.sh" -a -x "$repo/target/debug/qcmdr"; then
  die "$TESTER cannot read $repo (the tests name files in the checkout): put it below world-readable folders, or copy it somewhere readable"
fi

demo=$tester_home/two-commands
# What OTHER can read of TESTER's beyond what the user itself made readable (its home and the
# skeleton files useradd copied into it, the two-commands folder and the conf.lua that `qcmdr
# init` wrote there with the user's umask, like any file of theirs): must stay empty.
readable_by_other() {
  local allowed=("$tester_home" "$demo" "$demo/conf.lua") file
  while read -r file; do allowed+=("$tester_home/${file#./}"); done < <(cd /etc/skel && find . -mindepth 1)
  as "$OTHER" find "$tester_home" "/tmp/qcmdr-$tester_uid" -readable 2>/dev/null |
    grep -vxF -f <(printf '%s\n' "${allowed[@]}") || true
}

# --- the tests, as the tester ------------------------------------------------------------
work=$(mktemp -d /var/tmp/qcmdr-test-as-user.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
log "archiving the test build (scripts/test.sh built it; built here if not)"
cargo nextest archive --archive-file "$work/tests.tar.zst" >&2
cp "$(command -v cargo-nextest)" "$work/cargo-nextest"
chmod 644 "$work/tests.tar.zst"
extracted=$(as "$TESTER" mktemp -d)
trap 'rm -rf "$work" "$extracted"' EXIT
log "running $FILTER as $TESTER (uid $tester_uid)"
as "$TESTER" "$work/cargo-nextest" nextest run --archive-file "$work/tests.tar.zst" \
  --workspace-remap "$repo" --extract-to "$extracted" --no-fail-fast -E "$FILTER"

# --- the README's two commands, from an empty cache --------------------------------------
as "$TESTER" rm -rf "$demo"
as "$TESTER" mkdir -p "$demo"   # its cache folder is made by qcmdr (private)
qcmdr() { as "$TESTER" env XDG_CACHE_HOME="$demo/cache" sh -c 'cd "$1" && shift && exec "$@"' sh "$demo" "$repo/target/debug/qcmdr" "$@"; }
log "qcmdr init + start dev + ssh dev -- id -u as $TESTER, from an empty cache"
qcmdr init
stop_demo() { qcmdr stop dev >/dev/null 2>&1 || true; }
trap 'stop_demo; rm -rf "$work" "$extracted"' EXIT
qcmdr start dev
guest_uid=$(qcmdr ssh dev -- id -u)
# The image's own key logs in as the guest's root.
[[ $guest_uid == 0 ]] || die "qcmdr ssh dev -- id -u printed '$guest_uid', expected 0 (the guest's root)"
log "ssh dev -- id -u: $guest_uid (the guest's root, logged in with the image's own key)"

# While the VM runs: its sockets, keys and logs are out of OTHER's reach.
mapfile -t sockets < <(as "$TESTER" find "$tester_home" "/tmp/qcmdr-$tester_uid" -type s 2>/dev/null)
((${#sockets[@]} > 0)) || die "found no socket of the running VM to try"
# connect USER SOCKET: "ok", or the reason the connection failed.
connect() {
  as "$1" python3 -c '
import socket, sys
try:
    socket.socket(socket.AF_UNIX).connect(sys.argv[1])
    print("ok")
except OSError as error:
    print(error.strerror)' "$2"
}
listening=0
for socket in "${sockets[@]}"; do
  # The tester reaches its own sockets (so a refusal below means what it says); one nobody
  # listens on any more (a test's Mutagen double) is still checked below.
  mine=$(connect "$TESTER" "$socket")
  case $mine in
    ok) listening=$((listening + 1)) ;;
    "Connection refused") ;;
    *) die "$TESTER cannot connect to its own $socket: $mine" ;;
  esac
  # The other user is refused by the permissions, whatever the socket is.
  theirs=$(connect "$OTHER" "$socket")
  [[ $theirs == "Permission denied" ]] || die "$OTHER connecting to $socket: $theirs (expected Permission denied)"
done
((listening > 0)) || die "none of the sockets found is listening: is the VM running?"
mapfile -t secrets < <(as "$TESTER" find "$demo" "$tester_home/.cache" -type f \( -name 'id_*' -o -name '*.log' -o -name ssh_config -o -name '*.pid' \))
((${#secrets[@]} > 0)) || die "found no key or log of the running VM to try"
for file in "${secrets[@]}"; do
  as "$TESTER" test -r "$file" || die "$TESTER cannot read its own $file"
  if as "$OTHER" cat "$file" >/dev/null 2>&1; then
    die "$OTHER could read $file"
  fi
done
log "$OTHER reached none of ${#sockets[@]} sockets ($listening listening) and ${#secrets[@]} keys and logs"
readable=$(readable_by_other)
[[ -z $readable ]] || die "$OTHER can read these files of $TESTER's: $readable"
qcmdr stop dev
trap 'rm -rf "$work" "$extracted"' EXIT

# --- what the run left: the tester's own, and private ------------------------------------
not_owned=$(find "$tester_home" "/tmp/qcmdr-$tester_uid" ! -user "$TESTER" 2>/dev/null | head -20 || true)
[[ -z $not_owned ]] || die "files of $TESTER's run owned by someone else: $not_owned"
elsewhere=$(find /tmp /var/tmp -xdev -user "$TESTER" -perm /o=r ! -path "$work*" 2>/dev/null |
  while read -r path; do as "$OTHER" test -r "$path" && echo "$path"; done || true)
[[ -z $elsewhere ]] || die "$OTHER can read these files $TESTER's run left in /tmp: $elsewhere"
readable=$(readable_by_other)
[[ -z $readable ]] || die "$OTHER can read these files of $TESTER's: $readable"
as "$TESTER" rm -rf "$demo"
log "ok: everything $TESTER's run wrote is its own and out of $OTHER's reach"
