#!/usr/bin/env python3
"""What readiness costs the boot, end to end, on the demo guest and on a systemd guest (the
Debian image `qcmdr init` makes). Prints figures; asserts nothing.

  bench/readiness.py [--boots N] [--guests demo,systemd] [--qcmdr PATH] [--against PATH]

Per guest, N rounds; each round boots the guest three ways, in an order that rotates from
round to round (so that a change of load hits all three):
  overlapped = `qcmdr start` (wait_for = "login+ssh", the default: SSH probed and logged
               into while the guest boots);
  sequential = the same binary with wait_for = "login-then-ssh" (nothing knocks on the guest
               before its prompt; SSH begins there);
  QEMU alone = the VM's exact argv (`qcmdr show --json`) with nobody probing, then one cold
               `ssh` retried from the prompt on.
With --against, a fourth boot per round: `qcmdr start` of that other build (overlapped),
for a before/after under the same load.
Every boot of the systemd guest is from a fresh overlay disk (`start --reset-disk`; for QEMU
alone an overlay made the same way). The login prompt is seen by an independent watcher of
the serial log (a read of what was appended every 2 ms), the same one for all three.

Figures (medians):
  launch -> prompt = QEMU spawned -> the watcher sees the prompt: overlapped vs QEMU alone
                     is what readiness costs the boot (target <= 1.03);
  launch -> ready  = QEMU spawned -> `start` returned: overlapped vs sequential is what the
                     overlap buys end to end (target <= 0.97);
  prompt -> ready  = the watcher's prompt -> `start` returned (target <= 50 ms where sshd is
                     up first);
  paired           = the same ratios per round, then their median (less swayed by a load
                     that changes from round to round on a shared machine);
  costs            = from `start --json` (`ssh_probing`): canary probes, sshd probes, the
                     canary's monitor commands, master logins, and how long the master
                     login ran before the prompt; from the guest's sshd log, connections that
                     never logged in (each a sshd process the booting guest paid for).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import REPO, Bench, build_guest, free_port  # noqa: E402

SEQUENTIAL = 'wait_for = "login-then-ssh",'


class PromptWatcher(threading.Thread):
    """Independent of qcmdr: reads what was appended to the serial log every 2 ms until
    `login:` is there (appended reads: a whole systemd boot log read every millisecond would
    cost the host's CPU, which the guest shares)."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path, self.seen_at, self.stop = path, None, False

    def run(self):
        offset, tail = 0, b""
        while not self.stop:
            try:
                with open(self.path, "rb") as f:
                    f.seek(offset)
                    fresh = f.read()
            except FileNotFoundError:
                fresh = b""
            if fresh:
                offset += len(fresh)
                tail = (tail + fresh)[-4096:]
                if b"login:" in tail:
                    self.seen_at = time.time()
                    return
            time.sleep(0.002)


class Guest:
    """One VM in a temporary project, with a second config that differs only in wait_for."""

    def __init__(self, kind, qcmdr, work):
        self.kind, self.qcmdr, self.work = kind, qcmdr, work
        if kind == "demo":
            self.bench = Bench(qcmdr, build_guest())
            self.conf, self.vm, self.image = self.bench.conf, "demo", False
            anchor = "login_timeout = 120,"
        else:
            project = os.path.join(work, "systemd")
            self.run(["init", project], conf=None)
            self.conf, self.vm, self.image = os.path.join(project, "conf.lua"), "dev", True
            with open(self.conf) as f:
                text = f.read()
            # init's fixed port could be taken (or be another run's): a free one.
            port = free_port()
            with open(self.conf, "w") as f:
                f.write(text.replace("43777", str(port)))
            anchor = "login_timeout = 300,"
            built = self.run(["image", "build"])
            if built.returncode != 0:
                sys.exit(f"image build failed: {built.stderr}")
        with open(self.conf) as f:
            text = f.read()
        if anchor not in text:
            sys.exit(f"no {anchor!r} in {self.conf}")
        # Beside the first config: the same folder, so the same VM state.
        self.seq_conf = os.path.join(os.path.dirname(self.conf), "conf-sequential.lua")
        with open(self.seq_conf, "w") as f:
            f.write(text.replace(anchor, anchor + " " + SEQUENTIAL))
        show = json.loads(self.run(["show", self.vm, "--json"]).stdout)
        self.argv, self.cwd, self.paths = show["argv"], show["cwd"], show["paths"]

    def run(self, args, conf="default", qcmdr=None):
        conf = self.conf if conf == "default" else conf
        prefix = [qcmdr or self.qcmdr] + (["-c", conf] if conf else [])
        return subprocess.run(prefix + args, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL)

    def fresh_watcher(self):
        log = self.paths["serial_log"]
        # start rotates the log itself; QEMU alone appends: either way the watcher must
        # only see this boot's.
        if os.path.exists(log):
            os.remove(log)
        watcher = PromptWatcher(log)
        watcher.start()
        return watcher

    def qcmdr_boot(self, sequential, qcmdr=None):
        conf = self.seq_conf if sequential else self.conf
        watcher = self.fresh_watcher()
        args = ["start", self.vm, "--json"] + (["--reset-disk"] if self.image else [])
        began = time.time()
        run = self.run(args, conf=conf, qcmdr=qcmdr)
        returned = time.time()
        # The prompt is in the log once start returns: the watcher sees it within its next
        # read (it may be a read behind when the return comes right after the prompt).
        watcher.join(timeout=5)
        watcher.stop = True
        if run.returncode != 0:
            self.run(["stop", self.vm, "--force"])
            sys.exit(f"start failed after {returned - began:.1f} s:\n{run.stdout}\n{run.stderr}")
        record = json.loads(run.stdout)["vms"][0]
        ssh_at = next(s["at"] for s in record["stages"] if s["stage"] == "ssh")
        probing = record["ssh_probing"]
        wasted = self.unused_sshd_connections()
        self.run(["stop", self.vm, "--force"])
        prompt = watcher.seen_at
        login_began = probing["login_began_at"]
        return {
            "launch_to_prompt": prompt - record["launched_at"],
            "launch_to_ready": returned - record["launched_at"],
            "prompt_to_ready": returned - prompt,
            "canary_probes": probing["canary_probes"],
            "sshd_probes": probing["sshd_probes"],
            "qmp_commands": probing["qmp_commands"],
            "logins": probing["logins"],
            # How long the (successful) master login ran while the guest was still booting.
            "login_before_prompt": max(0.0, min(prompt, ssh_at) - login_began),
            "wasted": wasted,
        }

    def unused_sshd_connections(self):
        """Connections the guest's sshd accepted that never logged in."""
        if self.kind == "demo":
            cmd = "grep -c kex_exchange_identification /var/log/sshd.log || true"
        else:
            # One connection logs two lines ("kex_exchange_identification: ... reset by
            # peer", "Connection reset by 10.0.2.2 port N"): count the ports.
            cmd = ("journalctl -b -u ssh.service --no-pager -o cat | grep -oE "
                   "'Connection (reset|closed) by [0-9.]+ port [0-9]+' | sort -u | wc -l")
        out = self.run(["ssh", self.vm, "--", cmd])
        try:
            return int(out.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return float("nan")

    def fresh_overlay(self):
        disk = next((a.split("file=", 1)[1].split(",", 1)[0] for a in self.argv
                     if a.startswith("file=") and "disk.qcow2" in a), None)
        if disk is None:
            return
        info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", disk],
                                         check=True, capture_output=True, text=True).stdout)
        backing = info["full-backing-filename"]
        os.remove(disk)
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b",
                        backing, disk], check=True)

    def alone_boot(self):
        """QEMU with the same argv and nobody probing; then one cold ssh from the prompt on."""
        self.run(["ssh-config"])  # the private config for the ssh below
        if self.image:
            self.fresh_overlay()
        watcher = self.fresh_watcher()
        launched = time.time()
        qemu = subprocess.Popen(self.argv, cwd=self.cwd, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while watcher.seen_at is None:
                if qemu.poll() is not None:
                    sys.exit(f"QEMU alone exited with {qemu.returncode}")
                time.sleep(0.01)
            prompt = watcher.seen_at
            ssh = ["ssh", "-F", self.paths["ssh_config"], "-o", "BatchMode=yes",
                   "-o", "ConnectTimeout=10", "-o", "ControlMaster=no", "-o", "ControlPath=none",
                   self.vm, "true"]
            while subprocess.run(ssh, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL).returncode != 0:
                time.sleep(0.05)
            answered = time.time()
            return {"launch_to_prompt": prompt - launched,
                    "prompt_plus_ssh": answered - launched,
                    "first_ssh": answered - prompt}
        finally:
            qemu.kill()
            qemu.wait()
            for key in ("pidfile", "qmp_socket", "monitor_socket", "serial_socket"):
                try:
                    os.remove(self.paths[key])
                except FileNotFoundError:
                    pass

    def cleanup(self):
        self.run(["stop", "--all", "--force"])
        if self.kind == "demo":
            self.bench.cleanup()


def med(rows, key):
    return statistics.median(r[key] for r in rows)


def ms(seconds):
    return f"{seconds * 1000:8.1f} ms"


def report(guest, boots, against=None):
    # A first boot of each kind fills the page cache with the kernel, initrd and image.
    guest.qcmdr_boot(False)
    guest.alone_boot()
    ours, seq, alone = [], [], []
    kinds = [(ours, lambda: guest.qcmdr_boot(False)), (seq, lambda: guest.qcmdr_boot(True)),
             (alone, guest.alone_boot)]
    other = []
    if against:
        kinds.append((other, lambda: guest.qcmdr_boot(False, qcmdr=against)))
    load_before = os.getloadavg()[0]
    for round_ in range(boots):
        shift = round_ % len(kinds)
        for rows, boot in kinds[shift:] + kinds[:shift]:
            rows.append(boot())
    load_after = os.getloadavg()[0]
    title = {"demo": "demo guest (guest/build.sh, 256 MiB, 1 vCPU)",
             "systemd": "systemd guest (qcmdr init's Debian 12 image, 1 GiB, -smp 2)"}[guest.kind]
    print(f"{title}: {boots} rounds, TCG; load average {load_before:.2f} -> {load_after:.2f}")
    p_ours, p_alone = med(ours, "launch_to_prompt"), med(alone, "launch_to_prompt")
    r_ours, r_seq = med(ours, "launch_to_ready"), med(seq, "launch_to_ready")
    print(f"  launch -> prompt, qcmdr start          {ms(p_ours)}")
    print(f"  launch -> prompt, QEMU alone           {ms(p_alone)}   ratio {p_ours / p_alone:.3f} (target <= 1.03)")
    print(f"  launch -> prompt, login-then-ssh       {ms(med(seq, 'launch_to_prompt'))}   (nothing probes before the prompt)")
    print(f"  launch -> ready, qcmdr start           {ms(r_ours)}")
    print(f"  launch -> ready, login-then-ssh        {ms(r_seq)}   ratio {r_ours / r_seq:.3f} (target <= 0.97)")
    print(f"  QEMU alone: prompt + first cold ssh    {ms(med(alone, 'prompt_plus_ssh'))}   (its ssh {ms(med(alone, 'first_ssh')).strip()} after the prompt)")
    print(f"  prompt -> ready, qcmdr start           {ms(med(ours, 'prompt_to_ready'))}   (target <= 50 ms where sshd is up first)")
    print(f"  prompt -> ready, login-then-ssh        {ms(med(seq, 'prompt_to_ready'))}")
    print(f"  per start, qcmdr start: canary probes {med(ours, 'canary_probes'):g}, sshd probes "
          f"{med(ours, 'sshd_probes'):g}, canary monitor commands {med(ours, 'qmp_commands'):g}, "
          f"logins {med(ours, 'logins'):g}, unused sshd connections {med(ours, 'wasted'):g}")
    print(f"  master login before the prompt         {ms(med(ours, 'login_before_prompt'))}   "
          f"(each boot: {', '.join(str(round(r['login_before_prompt'] * 1000)) for r in ours)})")
    if against:
        r_other = med(other, "launch_to_ready")
        print(f"  against {against}: launch -> prompt {ms(med(other, 'launch_to_prompt')).strip()}, "
              f"launch -> ready {ms(r_other).strip()} (this one / that one {r_ours / r_other:.3f}), "
              f"prompt -> ready {ms(med(other, 'prompt_to_ready')).strip()}; canary probes "
              f"{med(other, 'canary_probes'):g}, sshd probes {med(other, 'sshd_probes'):g}, logins "
              f"{med(other, 'logins'):g}, unused sshd connections {med(other, 'wasted'):g}, "
              f"login before the prompt {ms(med(other, 'login_before_prompt')).strip()}")
    print(f"  per start, login-then-ssh: sshd probes {med(seq, 'sshd_probes'):g}, logins "
          f"{med(seq, 'logins'):g}, unused sshd connections {med(seq, 'wasted'):g}")
    # Paired by round (the boots of one round saw the same load): the median of the ratios.
    paired = lambda a, ka, b, kb: statistics.median(x[ka] / y[kb] for x, y in zip(a, b))
    print(f"  paired by round (median of ratios): prompt qcmdr / QEMU alone "
          f"{paired(ours, 'launch_to_prompt', alone, 'launch_to_prompt'):.3f}, ready qcmdr / "
          f"login-then-ssh {paired(ours, 'launch_to_ready', seq, 'launch_to_ready'):.3f}, ready "
          f"qcmdr / QEMU alone's prompt + first ssh "
          f"{paired(ours, 'launch_to_ready', alone, 'prompt_plus_ssh'):.3f}"
          + (f", ready qcmdr / --against {paired(ours, 'launch_to_ready', other, 'launch_to_ready'):.3f}"
             if against else ""))
    each = lambda rows, key: ", ".join(f"{r[key]:.2f}" for r in rows)
    print(f"  each boot, launch -> ready (s): qcmdr start {each(ours, 'launch_to_ready')}; "
          f"login-then-ssh {each(seq, 'launch_to_ready')}")
    print(f"  each boot, launch -> prompt (s): qcmdr start {each(ours, 'launch_to_prompt')}; "
          f"QEMU alone {each(alone, 'launch_to_prompt')}", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--boots", type=int, default=7)
    parser.add_argument("--guests", default="demo,systemd")
    parser.add_argument("--qcmdr", default=os.path.join(REPO, "target/release/qcmdr"))
    parser.add_argument("--against", help="another qcmdr build, booted overlapped in each round")
    args = parser.parse_args()
    args.qcmdr = os.path.abspath(args.qcmdr)
    if args.against:
        args.against = os.path.abspath(args.against)
    work = tempfile.mkdtemp(prefix="qcmdr-bench-ready")
    try:
        for kind in args.guests.split(","):
            guest = Guest(kind, args.qcmdr, work)
            try:
                report(guest, args.boots, args.against)
            finally:
                guest.cleanup()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
