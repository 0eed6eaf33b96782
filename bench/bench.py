#!/usr/bin/env python3
"""qcmdr benchmarks on the real guest. Prints figures; asserts nothing.

  bench/bench.py [--boots N] [--qcmdr PATH]

Figures (medians over N boots unless said otherwise):
  readiness lag   = (start returned) - (login prompt reached the serial log, seen by an
                    independent watcher) - (one cold SSH login measured right after).
                    Printed for qcmdr and for the ancestor's method (1 s polls of the serial
                    log, then ssh retried every second), run in the same benchmark.
  login detection = qcmdr's --json login stage timestamp - the watcher's timestamp.
  stop lag        = (stop returned) - (QEMU exited, seen through a pidfd).
  ssh ratio       = qcmdr ssh demo true / ssh -F <config> demo true, warm master.
  status          = qcmdr status, 20 configured VMs, 3 running.
  exit detection  = qcmdr start with a bad QEMU argument, minus QEMU alone with that argv.
"""

import argparse
import json
import os
import select
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vm_lua(name, port, guest, extra_arg=""):
    return f"""    {{
      name = "{name}", arch = "x86_64", login_timeout = 120,
      ssh = {{ Port = {port}, User = "root", IdentityFile = "{guest}/id_ed25519" }},
      args = {{
        "-machine q35,accel=tcg", "-cpu max", "-m 256", "-display none",
        "-kernel {guest}/vmlinuz", "-initrd {guest}/initrd.gz",
        "-append", '"console=ttyS0 quiet"',
        "-netdev user,id=net0,hostfwd=tcp:127.0.0.1:{port}-:22", "-device virtio-net-pci,netdev=net0",
        {extra_arg}
      }},
    }},
"""


class Bench:
    def __init__(self, qcmdr, guest, vm_count=1, extra_arg=""):
        self.dir = tempfile.mkdtemp(prefix="qcmdr-bench")
        self.qcmdr = qcmdr
        self.names = ["demo"] + [f"vm{i:02}" for i in range(1, vm_count)]
        vms = "".join(vm_lua(n, free_port(), guest, extra_arg) for n in self.names)
        self.conf = os.path.join(self.dir, "conf.lua")
        with open(self.conf, "w") as f:
            f.write("return {\n  vms = {\n" + vms + "  },\n}\n")

    def cmd(self, *args, **kw):
        return subprocess.run([self.qcmdr, "-c", self.conf, *args], capture_output=True, text=True, **kw)

    def ok(self, *args):
        run = self.cmd(*args)
        if run.returncode != 0:
            sys.exit(f"qcmdr {' '.join(args)} failed:\n{run.stdout}\n{run.stderr}")
        return run

    def show(self, vm="demo"):
        return json.loads(self.ok("show", vm, "--json").stdout)

    def cleanup(self):
        self.cmd("stop", "--all", "--force")
        shutil.rmtree(self.dir, ignore_errors=True)


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
    pid = record["pid"]
    exit_seen = {}
    t = threading.Thread(target=lambda: exit_seen.setdefault("t", wait_pid_exit(pid)))
    t.start()
    bench.ok("stop", "demo")
    stop_returned = time.time()
    t.join()
    return {
        "lag": returned - watcher.seen_at - cold,
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
        return {"lag": returned - watcher.seen_at - cold}
    finally:
        qemu.kill()
        qemu.wait()
        for key in ("pidfile", "qmp_socket", "monitor_socket", "serial_socket"):
            try:
                os.remove(paths[key])
            except FileNotFoundError:
                pass


def timed(argv, runs):
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def ms(seconds):
    return f"{seconds * 1000:7.1f} ms"


def build_guest():
    """The demo guest's folder (built by guest/build.sh, cached)."""
    return subprocess.run(["bash", os.path.join(REPO, "guest/build.sh")], check=True,
                          capture_output=True, text=True).stdout.strip().splitlines()[-1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--boots", type=int, default=5)
    parser.add_argument("--qcmdr", default=os.path.join(REPO, "target/release/qcmdr"))
    args = parser.parse_args()
    guest = build_guest()

    bench = Bench(args.qcmdr, guest)
    try:
        ours = [qcmdr_boot(bench) for _ in range(args.boots)]
        theirs = [ancestor_boot(bench) for _ in range(args.boots)]
        med = lambda rows, key: statistics.median(r[key] for r in rows)
        print(f"boots: {args.boots} each (TCG, 2 cores)")
        print(f"login prompt -> ready, qcmdr            {ms(med(ours, 'boot'))}")
        print(f"cold SSH login (unavoidable part)       {ms(med(ours, 'cold_ssh'))}")
        print(f"readiness lag, qcmdr          (median)  {ms(med(ours, 'lag'))}   target <= 150 ms")
        print(f"readiness lag, 1-second polls (median)  {ms(med(theirs, 'lag'))}")
        print(f"login detection lag           (median)  {ms(med(ours, 'detect'))}   target <= 20 ms")
        print(f"stop lag: QEMU exit -> stop returns     {ms(med(ours, 'stop_lag'))}   target <= 50 ms")

        bench.ok("start", "demo")
        config = bench.show()["paths"]["ssh_config"]
        plain = timed(["ssh", "-F", config, "demo", "true"], 30)
        via = timed([args.qcmdr, "-c", bench.conf, "ssh", "demo", "true"], 30)
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

    many = Bench(args.qcmdr, guest, vm_count=20)
    try:
        many.ok("start", "demo", "vm01", "vm02")
        status = timed([args.qcmdr, "-c", many.conf, "status"], 10)
        print(f"status, 20 VMs (3 running)    (median)  {ms(status)}   target < 300 ms")
    finally:
        many.cleanup()


if __name__ == "__main__":
    main()
