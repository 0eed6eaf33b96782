#!/usr/bin/env python3
"""Live mounts (virtiofs) against a copy (rsync sync-in) against the host. Prints figures;
asserts nothing.

  bench/mounts.py [--files N] [--rounds R] [--qcmdr PATH]

One VM (the demo guest, -m 1536: the rsync copy lives in its RAM) mounts a git tree of N
small files (default 50,000 in 500 folders) at /src/tree over virtiofs and syncs the same
tree with rsync to /copy/tree. Figures, medians of R rounds, each the wall time of one
command as a user waits for it:
  git status     = git status --porcelain in the tree
  find | wc -l   = find . | wc -l in the tree
on the host, in the guest over virtiofs, in the guest's rsync copy; and the rsync sync-in
itself (qcmdr sync flush demo). 9p is not measured: the guest's kernel (Debian's cloud kernel)
has no 9p.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import REPO, build_guest, free_port  # noqa: E402


def make_tree(root, files):
    per_dir = 100
    for n in range(files):
        d = os.path.join(root, f"d{n // per_dir:04}")
        if n % per_dir == 0:
            os.makedirs(d)
        with open(os.path.join(d, f"f{n % per_dir:03}.c"), "w") as f:
            f.write(f"{n}\n")
    git = ["git", "-c", "user.name=b", "-c", "user.email=b@b"]
    subprocess.run(git + ["init", "-q"], cwd=root, check=True)
    subprocess.run(git + ["add", "."], cwd=root, check=True)
    subprocess.run(git + ["commit", "-qm", "tree"], cwd=root, check=True)


def timed(argv, cwd=None):
    t = time.perf_counter()
    run = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    took = time.perf_counter() - t
    if run.returncode != 0:
        sys.exit(f"{argv} failed:\n{run.stdout}\n{run.stderr}")
    return took


def guest_time(qcmdr, folder, command):
    """Seconds the guest itself took (its /proc/uptime around the command, 10 ms
    resolution), so SSH's cost is not counted."""
    script = (f"cd {folder} && read a _ </proc/uptime && {command} >/dev/null && "
              "read b _ </proc/uptime && echo $a $b")
    run = subprocess.run(qcmdr + ["exec", "demo", "sh", "-c", script], capture_output=True,
                         text=True)
    if run.returncode != 0:
        sys.exit(f"{script} failed in the guest:\n{run.stdout}\n{run.stderr}")
    start, end = map(float, run.stdout.split())
    return end - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--qcmdr", default=os.path.join(REPO, "target/release/qcmdr"))
    args = parser.parse_args()
    guest = build_guest()
    work = tempfile.mkdtemp(prefix="qcmdr-bench-mounts")
    tree = os.path.join(work, "tree")
    os.makedirs(tree)
    make_tree(tree, args.files)
    port = free_port()
    conf = os.path.join(work, "conf.lua")
    with open(conf, "w") as f:
        f.write(f"""return {{ sync_engine = "rsync", vms = {{ {{
  name = "demo", arch = "x86_64", login_timeout = 120,
  ssh = {{ Port = {port}, User = "root", IdentityFile = "{guest}/id_ed25519" }},
  mounts = {{ {{ source = "{tree}", dest = "/src/tree" }} }},
  sync = {{ {{ source = "{tree}", dest = "/copy/tree" }} }},
  args = {{ "-machine q35,accel=tcg", "-cpu max", "-m 1536", "-display none",
    "-kernel {guest}/vmlinuz", "-initrd {guest}/initrd.gz", "-append", '"console=ttyS0 quiet"',
    "-netdev user,id=net0,hostfwd=tcp:127.0.0.1:{port}-:22", "-device virtio-net-pci,netdev=net0" }},
}} }} }}
""")
    qcmdr = [args.qcmdr, "-c", conf]
    try:
        timed(qcmdr + ["start", "demo", "--no-sync"])
        sync = [timed(qcmdr + ["sync", "flush", "demo"]) for _ in range(1)]
        rows = []
        for label, host_cmd, guest_cmd in [
            ("git status", ["git", "-c", "safe.directory=*", "status", "--porcelain"],
             "git -c safe.directory='*' status --porcelain"),
            ("find | wc -l", ["sh", "-c", "find . | wc -l"], "find . | wc -l"),
        ]:
            # One warm-up each (git refreshes its index once), then the measured rounds.
            timed(host_cmd, cwd=tree)
            guest_time(qcmdr, "/src/tree", guest_cmd)
            guest_time(qcmdr, "/copy/tree", guest_cmd)
            host = [timed(host_cmd, cwd=tree) for _ in range(args.rounds)]
            live = [guest_time(qcmdr, "/src/tree", guest_cmd) for _ in range(args.rounds)]
            copy = [guest_time(qcmdr, "/copy/tree", guest_cmd) for _ in range(args.rounds)]
            rows.append((label, statistics.median(host), statistics.median(live),
                         statistics.median(copy)))
    finally:
        subprocess.run(qcmdr + ["stop", "demo", "--force"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    print(f"tree: {args.files} files; medians of {args.rounds}; TCG guest (no KVM)")
    print(f"rsync sync-in of the tree (qcmdr sync flush demo): {sync[0]:.2f} s")
    print("guest figures: the guest's own time (its /proc/uptime around the command)")
    print(f"{'':14} {'host':>8} {'virtiofs':>9} {'rsync copy':>11} {'virtiofs/host':>14} "
          f"{'virtiofs/copy':>14}")
    for label, host, live, copy in rows:
        print(f"{label:14} {host:7.2f}s {live:8.2f}s {copy:10.2f}s {live / host:13.1f}x "
              f"{live / max(copy, 0.01):13.1f}x")


if __name__ == "__main__":
    main()
