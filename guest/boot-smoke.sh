#!/usr/bin/env bash
# Boot the test guest once under TCG and check that it really works:
# serial 'login:' prompt, SSH (key auth as root), scp in and out (SFTP), rsync,
# then 'poweroff' over SSH ends QEMU within 15 s.  QEMU is always killed on exit.
#
#   guest/boot-smoke.sh [GUESTDIR]
#
# GUESTDIR defaults like guest/build.sh's OUTDIR; build.sh is run first (a no-op
# when the guest is up to date).  Extra kernel arguments: QCMDR_SMOKE_APPEND.
# Exit status 0 only if every step worked.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GUEST=$("$HERE/build.sh" "$@" | tail -n1)

T=$(mktemp -d "${TMPDIR:-/tmp}/qcmdr-smoke.XXXXXX")
LOG=$T/serial.log
QPID=""
cleanup() {
    local rc=$?
    if [[ -n $QPID ]] && kill -0 "$QPID" 2>/dev/null; then
        kill "$QPID" 2>/dev/null || true
        sleep 0.5
        kill -9 "$QPID" 2>/dev/null || true
    fi
    wait 2>/dev/null || true
    if ((rc != 0)) && [[ -f $LOG ]]; then
        echo "---- serial log (last 40 lines) ----" >&2
        tail -n 40 "$LOG" >&2 || true
    fi
    rm -rf -- "$T"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

fail() { echo "boot-smoke: FAIL: $*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

if command -v python3 >/dev/null 2>&1; then
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
else
    PORT=$((22222 + $$ % 1000))
fi

t0=$(now)
qemu-system-x86_64 -machine q35,accel=tcg -cpu max -m 256 \
    -kernel "$GUEST/vmlinuz" -initrd "$GUEST/initrd.gz" \
    -append "console=ttyS0 quiet${QCMDR_SMOKE_APPEND:+ $QCMDR_SMOKE_APPEND}" \
    -netdev "user,id=net0,hostfwd=tcp:127.0.0.1:$PORT-:22" -device virtio-net-pci,netdev=net0 \
    -display none -serial "file:$LOG" -pidfile "$T/qemu.pid" \
    -qmp "unix:$T/qmp.sock,server=on,wait=off" </dev/null >"$T/qemu.out" 2>&1 &
QPID=$!

# 1. login prompt on the serial console
for ((i = 0; i < 600; i++)); do
    grep -q 'login:' "$LOG" 2>/dev/null && break
    kill -0 "$QPID" 2>/dev/null || { cat "$T/qemu.out" >&2; fail "QEMU exited during boot"; }
    sleep 0.1
done
grep -q 'qcmdr-guest login:' "$LOG" || fail "no 'qcmdr-guest login:' on the serial console within 60 s"
t_login=$(since "$t0")
echo "boot-smoke: login prompt after ${t_login} s"

SSH_OPTS=(-i "$GUEST/id_ed25519" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
          -o BatchMode=yes -o ConnectTimeout=10 -o LogLevel=ERROR)
ssh_g() { ssh "${SSH_OPTS[@]}" -p "$PORT" root@127.0.0.1 "$@"; }

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
echo "boot-smoke: ssh after another $(since "$t1") s:"
sed 's/^/    /' <<<"$out"
grep -q 'qcmdr-guest' <<<"$out" || fail "uname -a does not show the qcmdr-guest hostname"
grep -q 'rsync  *version' <<<"$out" || fail "rsync does not run in the guest"
grep -q '^/usr/lib/openssh/sftp-server$' <<<"$out" || fail "no sftp-server in the guest"

# 3. scp (SFTP protocol) in and out, rsync over ssh, serial write
head -c 100000 /dev/urandom >"$T/blob"
scp -q "${SSH_OPTS[@]}" -P "$PORT" "$T/blob" root@127.0.0.1:/tmp/blob || fail "scp to the guest failed"
scp -q "${SSH_OPTS[@]}" -P "$PORT" root@127.0.0.1:/tmp/blob "$T/blob.back" || fail "scp from the guest failed"
cmp -s "$T/blob" "$T/blob.back" || fail "scp round trip changed the file"
echo "boot-smoke: scp in and out ok"
rsync -a -e "ssh ${SSH_OPTS[*]} -p $PORT" "$T/blob" root@127.0.0.1:/tmp/blob.rsync || fail "rsync to the guest failed"
[[ $(ssh_g 'sha256sum /tmp/blob.rsync' | cut -d' ' -f1) == "$(sha256sum "$T/blob" | cut -d' ' -f1)" ]] ||
    fail "rsync copy differs"
echo "boot-smoke: rsync ok"
ssh_g 'echo qcmdr-smoke-serial-marker > /dev/ttyS0' || fail "cannot write to /dev/ttyS0"
sleep 0.3
grep -q qcmdr-smoke-serial-marker "$LOG" || fail "write to /dev/ttyS0 did not reach the serial log"
echo "boot-smoke: /dev/ttyS0 write reaches the serial log"

# 4. poweroff over SSH ends QEMU
t2=$(now)
ssh_g poweroff || true
for ((i = 0; i < 150; i++)); do
    kill -0 "$QPID" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$QPID" 2>/dev/null && fail "QEMU still running 15 s after poweroff"
wait "$QPID" || true
QPID=""
echo "boot-smoke: QEMU exited $(since "$t2") s after poweroff"
echo "boot-smoke: OK"
