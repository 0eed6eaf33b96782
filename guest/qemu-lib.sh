# shellcheck shell=bash
# Helpers shared by guest/boot-smoke.sh and guest/fault-check.sh (sourced, not run).
# Boots the test guest with the same kind of command line qcmdr's tests use.
#
# Needs: GUEST (dir with vmlinuz, initrd.gz, id_ed25519) and T (scratch dir).
# Sets:  QPID, PORT, LOG (serial log), QMP (QMP socket path).

# require_host CMD:PACKAGE... : exit with a clear message naming missing Debian packages.
require_host() {
    local spec pkgs=()
    for spec in "$@"; do
        command -v "${spec%%:*}" >/dev/null 2>&1 || pkgs+=("${spec#*:}")
    done
    if ((${#pkgs[@]})); then
        echo "$(basename "$0"): missing host packages; install with: apt-get install ${pkgs[*]}" >&2
        exit 1
    fi
}

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

pick_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
    else
        echo $((22222 + $$ % 1000))
    fi
}

# boot_guest [EXTRA-KERNEL-ARGS]   (starts QEMU in the background; sets QPID and T_BOOT)
boot_guest() {
    PORT=$(pick_port)
    LOG=$T/serial.$PORT.log
    QMP=$T/qmp.$PORT.sock
    : >"$LOG"
    # shellcheck disable=SC2034  # T_BOOT is used by the sourcing scripts
    T_BOOT=$(now)
    qemu-system-x86_64 -machine q35,accel=tcg -cpu max -m 256 \
        -kernel "$GUEST/vmlinuz" -initrd "$GUEST/initrd.gz" \
        -append "console=ttyS0 quiet${1:+ $1}" \
        -netdev "user,id=net0,hostfwd=tcp:127.0.0.1:$PORT-:22" -device virtio-net-pci,netdev=net0 \
        -display none -serial "file:$LOG" -pidfile "$T/qemu.$PORT.pid" \
        -qmp "unix:$QMP,server=on,wait=off" </dev/null >"$T/qemu.$PORT.out" 2>&1 &
    QPID=$!
}

qemu_alive() { [[ -n ${QPID:-} ]] && kill -0 "$QPID" 2>/dev/null; }

# kill_guest: stop QEMU if it is still running and reap it.
kill_guest() {
    if qemu_alive; then
        kill "$QPID" 2>/dev/null || true
        for ((_i = 0; _i < 20; _i++)); do qemu_alive || break; sleep 0.1; done
        kill -9 "$QPID" 2>/dev/null || true
    fi
    [[ -n ${QPID:-} ]] && { wait "$QPID" 2>/dev/null || true; }
    QPID=""
}

# wait_login SECONDS: 0 once 'login:' is in the serial log, 1 on timeout, 2 if QEMU exited.
wait_login() {
    local n=$(($1 * 10)) i
    for ((i = 0; i < n; i++)); do
        grep -q 'login:' "$LOG" 2>/dev/null && return 0
        qemu_alive || return 2
        sleep 0.1
    done
    return 1
}

# wait_exit SECONDS: 0 once QEMU has exited (and is reaped), 1 if still running.
wait_exit() {
    local n=$(($1 * 10)) i
    for ((i = 0; i < n; i++)); do
        if ! qemu_alive; then
            wait "$QPID" 2>/dev/null || true
            QPID=""
            return 0
        fi
        sleep 0.1
    done
    return 1
}

SSH_OPTS=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
          -o BatchMode=yes -o ConnectTimeout=10 -o LogLevel=ERROR)
ssh_g() { ssh -i "$GUEST/id_ed25519" "${SSH_OPTS[@]}" -p "$PORT" root@127.0.0.1 "$@"; }
scp_g() { scp -q -i "$GUEST/id_ed25519" "${SSH_OPTS[@]}" -P "$PORT" "$@"; }

# qmp COMMAND: run one QMP command (after qmp_capabilities); prints QMP's replies.
qmp() {
    { printf '{"execute":"qmp_capabilities"}\n{"execute":"%s"}\n' "$1"; sleep 0.5; } |
        socat -t 1 - "UNIX-CONNECT:$QMP"
}
