#!/usr/bin/env bash
# Check the guest's behaviour with and without each qcmdr.* fault switch, and
# print the timings that guest/README.md records.  Takes about 2 minutes.
#
#   guest/fault-check.sh [GUESTDIR] [CASE...]
#
# CASEs: normal noacpi nosshd sshdelay noprompt die (default: all).  Exit 0 if all pass.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=guest/qemu-lib.sh
. "$HERE/qemu-lib.sh"
gdir=()
if (($#)) && [[ $1 == */* || -d $1 ]]; then gdir=("$1"); shift; fi
require_host qemu-system-x86_64:qemu-system-x86 ssh:openssh-client socat:socat
GUEST=$("$HERE/build.sh" "${gdir[@]}" | tail -n1)
CASES=("$@")
((${#CASES[@]})) || CASES=(normal noacpi nosshd sshdelay noprompt die)

T=$(mktemp -d "${TMPDIR:-/tmp}/qcmdr-fault.XXXXXX")
QPID=""
cleanup() { kill_guest; rm -rf -- "$T"; }
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

failed=0
pass() { echo "  PASS: $*"; }
bad() { echo "  FAIL: $*"; failed=1; }

need_login() { # -> 0 when the prompt came; reports failure otherwise
    if wait_login 60; then echo "  login prompt after $(since "$T_BOOT") s"; return 0; fi
    bad "no login prompt within 60 s"; return 1
}

case_normal() {
    echo "normal: system_powerdown ends QEMU (acpid path)"
    boot_guest ""
    need_login || return 0
    local t; t=$(now)
    ssh_g true && echo "  ssh ok $(since "$t") s after the prompt" || bad "ssh failed"
    t=$(now)
    qmp system_powerdown >"$T/qmp.out" 2>&1 &
    local qp=$!
    if wait_exit 15; then pass "QEMU exited $(since "$t") s after system_powerdown"
    else bad "QEMU still running 15 s after system_powerdown"; fi
    wait "$qp" || true
    grep -q POWERDOWN "$T/qmp.out" || bad "no POWERDOWN event on QMP"
    kill_guest
}

case_noacpi() {
    echo "qcmdr.noacpi: system_powerdown is ignored"
    boot_guest "qcmdr.noacpi"
    need_login || return 0
    qmp system_powerdown >"$T/qmp.out" 2>&1 || bad "QMP system_powerdown failed"
    grep -q POWERDOWN "$T/qmp.out" || bad "no POWERDOWN event on QMP"
    if wait_exit 10; then bad "QEMU exited after system_powerdown"
    else pass "QEMU still running 10 s after system_powerdown"; fi
    local t; t=$(now)
    ssh_g poweroff 2>/dev/null || true
    if wait_exit 15; then pass "ssh poweroff still works: QEMU exited $(since "$t") s after it"
    else bad "ssh poweroff did not end QEMU"; fi
    kill_guest
}

case_nosshd() {
    echo "qcmdr.nosshd: SSH is down"
    boot_guest "qcmdr.nosshd"
    need_login || return 0
    sleep 1
    local err
    if err=$(ssh_g -o ConnectTimeout=5 true 2>&1); then bad "ssh worked"
    else pass "ssh fails: $(tr '\n' ' ' <<<"$err")"; fi
    kill_guest
}

case_sshdelay() {
    echo "qcmdr.sshdelay=4: SSH comes about 4 s after the prompt"
    boot_guest "qcmdr.sshdelay=4"
    need_login || return 0
    local t; t=$(now)
    if ssh_g -o ConnectTimeout=2 true 2>/dev/null; then bad "ssh worked right after the prompt"
    else pass "ssh fails right after the prompt"; fi
    local i ok=""
    for ((i = 0; i < 60; i++)); do
        ssh_g -o ConnectTimeout=2 true 2>/dev/null && { ok=1; break; }
        sleep 0.2
    done
    [[ -n $ok ]] && pass "ssh works $(since "$t") s after the prompt" || bad "ssh never worked"
    kill_guest
}

case_noprompt() {
    echo "qcmdr.noprompt: no login prompt, but SSH works"
    boot_guest "qcmdr.noprompt"
    local i ok=""
    for ((i = 0; i < 60; i++)); do
        ssh_g -o ConnectTimeout=2 true 2>/dev/null && { ok=1; break; }
        sleep 0.5
    done
    [[ -n $ok ]] && pass "ssh works $(since "$T_BOOT") s after QEMU started" || bad "ssh never worked"
    local rc=0; wait_login 30 || rc=$?
    if ((rc == 0)); then bad "a login prompt appeared"
    else pass "no 'login:' $(since "$T_BOOT") s after QEMU started"; fi
    kill_guest
}

case_die() {
    echo "qcmdr.die: the guest powers itself off during boot"
    boot_guest "qcmdr.die"
    if wait_exit 15; then pass "QEMU exited by itself $(since "$T_BOOT") s after it started"
    else bad "QEMU still running after 15 s"; fi
    grep -q 'login:' "$LOG" && bad "a login prompt appeared"
    kill_guest
}

for c in "${CASES[@]}"; do
    declare -F "case_$c" >/dev/null || { echo "unknown case: $c" >&2; exit 2; }
    "case_$c"
done
((failed == 0)) && echo "fault-check: OK" || echo "fault-check: FAILED"
exit "$failed"
