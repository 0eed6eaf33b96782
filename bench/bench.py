#!/usr/bin/env python3
"""qcmdr benchmarks on the real guest. Prints figures; asserts nothing.

  bench/bench.py [--boots N] [--qcmdr PATH]

Figures (medians over N boots unless said otherwise):
  prompt -> ready = (start returned) - (login prompt reached the serial log, seen by an
                    independent watcher). qcmdr probes SSH while the guest boots, so this is
                    what is left of the SSH login once the prompt is there.
  readiness lag   = prompt -> ready - (one cold SSH login measured right after): the older
                    figure, from when SSH began only after the prompt. Printed for qcmdr and
                    for the ancestor's method (1 s polls of the serial log, then ssh retried
                    every second), run in the same benchmark.
  launch -> prompt = QEMU spawned -> the watcher sees the prompt, under qcmdr start and for
                    QEMU alone with the same argv (the ancestor's boots, which do nothing
                    before the prompt), boots alternating: the ratio is what probing costs.
  launch -> ready = QEMU spawned -> start returned, against QEMU alone's launch -> prompt plus
                    one cold SSH login (the best a wait that begins SSH at the prompt can do).
  late sshd       = a guest whose sshd starts seconds after its prompt (qcmdr.sshdelay):
                    sshd's first banner, seen by an independent prober -> start returned.
  login detection = qcmdr's --json login stage timestamp - the watcher's timestamp.
  stop lag        = (stop returned) - (QEMU exited, seen through a pidfd).
  ssh ratio       = qcmdr ssh demo true / ssh -F <config> demo true, warm master, run in turn.
  status          = qcmdr status, 20 configured VMs, 3 running.
  exit detection  = qcmdr start with a bad QEMU argument, minus QEMU alone with that argv.
  snapshots       = bench/snapshot.py's figures, with as many rounds as boots.
"""

import argparse
import json
import os
import select
import socket
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import REPO, Bench, build_guest, ms  # noqa: E402

# The late-sshd guest starts sshd this many seconds after its getty.
SSHD_DELAY_S = 3


class LoginWatcher(threading.Thread):
    """Independent of qcmdr: polls the serial log every millisecond for 'login:'."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path, self.seen_at, self.stop = path, None, False

    def run(self):
        while not self.stop and self.seen_at is None:
            try:
                with open(self.path, "rb") as f:
                    if b"login:" in f.read():
                        self.seen_at = time.time()
                        return
            except FileNotFoundError:
                pass
            time.sleep(0.001)


class BannerProber(threading.Thread):
    """Independent of qcmdr: a fresh TCP connection every 10 ms until sshd's banner comes."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.seen_at, self.stop = port, None, False

    def run(self):
        while not self.stop and self.seen_at is None:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    if s.recv(4) == b"SSH-":
                        self.seen_at = time.time()
                        return
            except OSError:
                pass
            time.sleep(0.01)


def cold_ssh(ssh_config, vm="demo"):
    t = time.time()
    subprocess.run(["ssh", "-F", ssh_config, "-o", "ControlMaster=no", "-o", "ControlPath=none",
                    "-o", "BatchMode=yes", vm, "true"], check=True, stdin=subprocess.DEVNULL)
    return time.time() - t


def wait_pid_exit(pid):
    fd = os.pidfd_open(pid)
    select.select([fd], [], [])
    t = time.time()
    os.close(fd)
    return t


def qcmdr_boot(bench):
    paths = bench.show()["paths"]
    watcher = LoginWatcher(paths["serial_log"])
    # The old log is rotated by start; the watcher must only see the new one.
    if os.path.exists(paths["serial_log"]):
        os.rename(paths["serial_log"], paths["serial_log"] + ".bench-old")
    watcher.start()
    run = bench.ok("start", "demo", "--json")
    returned = time.time()
    watcher.stop = True
    record = json.loads(run.stdout)["vms"][0]
    login_at = next(s["at"] for s in record["stages"] if s["stage"] == "login")
    cold = cold_ssh(paths["ssh_config"])
    # Connections sshd accepted that never logged in: each cost the booting guest a fork.
    wasted = subprocess.run(["ssh", "-F", paths["ssh_config"], "demo", "grep", "-c",
                             "kex_exchange_identification", "/var/log/sshd.log"],
                            capture_output=True, text=True, stdin=subprocess.DEVNULL)
    pid = record["pid"]
    exit_seen = {}
    t = threading.Thread(target=lambda: exit_seen.setdefault("t", wait_pid_exit(pid)))
    t.start()
    bench.ok("stop", "demo")
    stop_returned = time.time()
    t.join()
    return {
        "lag": returned - watcher.seen_at - cold,
        "launch_to_prompt": watcher.seen_at - record["launched_at"],
        "launch_to_ready": returned - record["launched_at"],
        "wasted_forks": int(wasted.stdout.strip() or 0),
        "detect": login_at - watcher.seen_at,
        "stop_lag": stop_returned - exit_seen["t"],
        "cold_ssh": cold,
        "boot": returned - watcher.seen_at,
    }


def ancestor_boot(bench):
    """The ancestor's method: QEMU launched, `grep login:` once a second, then ssh."""
    show = bench.show()
    argv, paths = show["argv"], show["paths"]
    os.makedirs(os.path.dirname(paths["serial_log"]), exist_ok=True)
    bench.ok("ssh-config")  # writes the private config
    if os.path.exists(paths["serial_log"]):
        os.remove(paths["serial_log"])
    watcher = LoginWatcher(paths["serial_log"])
    watcher.start()
    launched = time.time()
    qemu = subprocess.Popen(argv, cwd=show["cwd"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            time.sleep(1)
            if subprocess.run(["grep", "-q", "login:", paths["serial_log"]]).returncode == 0:
                break
        while subprocess.run(["ssh", "-F", paths["ssh_config"], "-o", "BatchMode=yes",
                              "-o", "ConnectTimeout=10", "-o", "ControlMaster=no", "demo", "true"],
                             stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
            time.sleep(1)
        returned = time.time()
        cold = cold_ssh(paths["ssh_config"])
        return {"lag": returned - watcher.seen_at - cold,
                "launch_to_prompt": watcher.seen_at - launched,
                # The best a wait that begins SSH at the prompt can do.
                "sequential_ready": watcher.seen_at - launched + cold}
    finally:
        qemu.kill()
        qemu.wait()
        for key in ("pidfile", "qmp_socket", "monitor_socket", "serial_socket"):
            try:
                os.remove(paths[key])
            except FileNotFoundError:
                pass


def late_sshd_boot(bench):
    """start on a guest whose sshd comes after its prompt: sshd's first banner -> ready."""
    prober = BannerProber(bench.ports["demo"])
    prober.start()
    run = bench.ok("start", "demo", "--json")
    returned = time.time()
    prober.stop = True
    prober.join()
    bench.ok("stop", "demo")
    if prober.seen_at is None:
        sys.exit("the independent prober never saw sshd's banner")
    return {"banner_to_ready": returned - prober.seen_at}


def timed(argv, runs):
    return timed_alternating([argv], runs)[0]


def timed_alternating(argvs, runs):
    """Median wall time of each command, run in turn, so that both see the same load."""
    samples = [[] for _ in argvs]
    for _ in range(runs):
        for argv, own in zip(argvs, samples):
            t = time.perf_counter()
            subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
            own.append(time.perf_counter() - t)
    return [statistics.median(own) for own in samples]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--boots", type=int, default=5)
    parser.add_argument("--qcmdr", default=os.path.join(REPO, "target/release/qcmdr"))
    args = parser.parse_args()
    guest = build_guest()

    bench = Bench(args.qcmdr, guest)
    try:
        ours, theirs = [], []
        # Alternating, so that both see the same load on a shared machine.
        for _ in range(args.boots):
            ours.append(qcmdr_boot(bench))
            theirs.append(ancestor_boot(bench))
        med = lambda rows, key: statistics.median(r[key] for r in rows)
        print(f"boots: {args.boots} each (TCG, 2 cores)")
        print(f"login prompt -> start returns, qcmdr    {ms(med(ours, 'boot'))}   target <= 50 ms")
        print(f"cold SSH login (measured after ready)   {ms(med(ours, 'cold_ssh'))}")
        print(f"readiness lag, qcmdr          (median)  {ms(med(ours, 'lag'))}   (old figure: minus one cold SSH login)")
        print(f"readiness lag, 1-second polls (median)  {ms(med(theirs, 'lag'))}")
        launch_ours, launch_alone = med(ours, "launch_to_prompt"), med(theirs, "launch_to_prompt")
        print(f"launch -> prompt, qcmdr start (median)  {ms(launch_ours)}")
        print(f"launch -> prompt, QEMU alone  (median)  {ms(launch_alone)}   "
              f"ratio {launch_ours / launch_alone:.3f} (target <= 1.03)")
        ready_ours, ready_seq = med(ours, "launch_to_ready"), med(theirs, "sequential_ready")
        print(f"launch -> ready, qcmdr start  (median)  {ms(ready_ours)}")
        print(f"launch -> prompt + cold SSH, QEMU alone {ms(ready_seq)}   "
              f"ratio {ready_ours / ready_seq:.3f} (SSH begun at the prompt, at best)")
        print(f"sshd connections that never logged in  {med(ours, 'wasted_forks'):7.1f}      "
              "(probes replayed by QEMU's user network; one fork each)")
        print(f"login detection lag           (median)  {ms(med(ours, 'detect'))}   target <= 20 ms")
        print(f"stop lag: QEMU exit -> stop returns     {ms(med(ours, 'stop_lag'))}   target <= 50 ms")

        bench.ok("start", "demo")
        config = bench.show()["paths"]["ssh_config"]
        plain, via = timed_alternating(
            [["ssh", "-F", config, "demo", "true"], [args.qcmdr, "-c", bench.conf, "ssh", "demo", "true"]], 30)
        print(f"ssh demo true, warm master: plain ssh   {ms(plain)}")
        print(f"ssh demo true, warm master: qcmdr ssh   {ms(via)}   ratio {via / plain:.2f} (target <= 1.15)")
        bench.ok("stop", "demo")
    finally:
        bench.cleanup()

    broken = Bench(args.qcmdr, guest, extra_arg='"-device no-such-device-xyz",')
    try:
        show = broken.show()
        os.makedirs(os.path.dirname(show["paths"]["serial_log"]), exist_ok=True)
        direct, via = [], []
        for _ in range(5):
            t = time.perf_counter()
            subprocess.run(show["argv"], cwd=show["cwd"], capture_output=True)
            direct.append(time.perf_counter() - t)
            t = time.perf_counter()
            if broken.cmd("start", "demo").returncode != 1:
                sys.exit("a start with a bad QEMU argument did not fail")
            via.append(time.perf_counter() - t)
        lag = statistics.median(via) - statistics.median(direct)
        print(f"QEMU exit -> start reports it (median)  {ms(lag)}   target <= 100 ms "
              f"(start {ms(statistics.median(via)).strip()} vs QEMU alone {ms(statistics.median(direct)).strip()})")
    finally:
        broken.cleanup()

    late = Bench(args.qcmdr, guest, kernel_args=f"qcmdr.sshdelay={SSHD_DELAY_S}")
    try:
        rows = [late_sshd_boot(late) for _ in range(args.boots)]
        print(f"late sshd ({SSHD_DELAY_S} s after the prompt): first banner -> start returns "
              f"{ms(statistics.median(r['banner_to_ready'] for r in rows))}")
    finally:
        late.cleanup()

    many = Bench(args.qcmdr, guest, vm_count=20)
    try:
        many.ok("start", "demo", "vm01", "vm02")
        status = timed([args.qcmdr, "-c", many.conf, "status"], 10)
        print(f"status, 20 VMs (3 running)    (median)  {ms(status)}   target < 300 ms")
    finally:
        many.cleanup()

    # Snapshots: start --from against a cold start, save time and size (bench/snapshot.py).
    from snapshot import report
    report(args.qcmdr, guest, args.boots)


if __name__ == "__main__":
    main()
