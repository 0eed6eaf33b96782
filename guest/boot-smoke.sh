#!/usr/bin/env bash
# Boot the test guest once under TCG and check that it really works:
# serial 'login:' prompt, SSH (key auth as root), scp in and out (SFTP), rsync,
# a write to /dev/ttyS0 reaching the serial log, then 'poweroff' over SSH ends
# QEMU within 15 s.  QEMU is always killed on exit.
#
#   guest/boot-smoke.sh [GUESTDIR]
#
# GUESTDIR defaults like guest/build.sh's OUTDIR; build.sh is run first (a no-op
# when the guest is up to date).  Extra kernel arguments: QCMDR_SMOKE_APPEND.
# Exit status 0 only if every step worked.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=guest/qemu-lib.sh
. "$HERE/qemu-lib.sh"
require_host qemu-system-x86_64:qemu-system-x86 ssh:openssh-client scp:openssh-client rsync:rsync
GUEST=$("$HERE/build.sh" "$@" | tail -n1)

T=$(mktemp -d "${TMPDIR:-/tmp}/qcmdr-smoke.XXXXXX")
QPID=""
LOG=""
cleanup() {
    local rc=$?
    kill_guest
    if ((rc != 0)) && [[ -n $LOG && -f $LOG ]]; then
        echo "---- serial log (last 40 lines) ----" >&2
        tail -n 40 "$LOG" >&2 || true
    fi
    rm -rf -- "$T"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

fail() { echo "boot-smoke: FAIL: $*" >&2; exit 1; }

boot_guest "${QCMDR_SMOKE_APPEND:-}"

# 1. login prompt on the serial console
rc=0; wait_login 60 || rc=$?
((rc != 2)) || { cat "$T"/qemu.*.out >&2; fail "QEMU exited during boot"; }
((rc == 0)) || fail "no 'login:' on the serial console within 60 s"
grep -q 'qcmdr-guest login:' "$LOG" || fail "the prompt is not 'qcmdr-guest login:'"
echo "boot-smoke: login prompt after $(since "$T_BOOT") s"

# 2. SSH
t1=$(now)
ok=""
for ((i = 0; i < 20; i++)); do
    if out=$(ssh_g 'uname -a; rsync --version | head -1; ls /usr/lib/openssh/sftp-server || true' 2>"$T/ssh.err"); then
        ok=1; break
    fi
    sleep 0.5
done
[[ -n $ok ]] || { cat "$T/ssh.err" >&2; fail "ssh did not work"; }
echo "boot-smoke: first ssh command done $(since "$t1") s after the prompt:"
sed 's/^/    /' <<<"$out"
grep -q 'qcmdr-guest' <<<"$out" || fail "uname -a does not show the qcmdr-guest hostname"
grep -q 'rsync  *version' <<<"$out" || fail "rsync does not run in the guest"
grep -q '^/usr/lib/openssh/sftp-server$' <<<"$out" || fail "no sftp-server in the guest"

# 3. scp (SFTP protocol) in and out, rsync over ssh, serial write
head -c 100000 /dev/urandom >"$T/blob"
scp_g "$T/blob" root@127.0.0.1:/tmp/blob || fail "scp to the guest failed"
scp_g root@127.0.0.1:/tmp/blob "$T/blob.back" || fail "scp from the guest failed"
cmp -s "$T/blob" "$T/blob.back" || fail "scp round trip changed the file"
echo "boot-smoke: scp in and out ok"
rsync -a -e "ssh -i $GUEST/id_ed25519 ${SSH_OPTS[*]} -p $PORT" "$T/blob" root@127.0.0.1:/tmp/blob.rsync ||
    fail "rsync to the guest failed"
[[ $(ssh_g 'sha256sum /tmp/blob.rsync' | cut -d' ' -f1) == "$(sha256sum "$T/blob" | cut -d' ' -f1)" ]] ||
    fail "rsync copy differs"
echo "boot-smoke: rsync ok"
ssh_g 'echo qcmdr-smoke-serial-marker > /dev/ttyS0' || fail "cannot write to /dev/ttyS0"
sleep 0.3
grep -q qcmdr-smoke-serial-marker "$LOG" || fail "write to /dev/ttyS0 did not reach the serial log"
echo "boot-smoke: /dev/ttyS0 write reaches the serial log"

# 4. poweroff over SSH ends QEMU
t2=$(now)
ssh_g poweroff 2>/dev/null || true
wait_exit 15 || fail "QEMU still running 15 s after poweroff"
echo "boot-smoke: QEMU exited $(since "$t2") s after 'ssh poweroff'"
echo "boot-smoke: OK"
