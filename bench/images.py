#!/usr/bin/env python3
"""qcmdr image benchmarks: the `qcmdr init` + `qcmdr start dev` path, for real. Prints
figures; asserts nothing.

  bench/images.py [--boots N] [--qcmdr PATH]

Figures:
  fresh build     = `qcmdr image build` of the init config's Debian image into an empty cache
                    (mmdebstrap, customisation, ext4 + qcow2). Target: <= 90 s on 2 cores.
  up-to-date      = `qcmdr image build` when the build exists (median of 20). Target: <= 100 ms.
  boot to ready   = `qcmdr start dev` of the built image under TCG, as reported by start
                    (launch to SSH ready; median of N boots, each from a fresh disk).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--boots", type=int, default=3)
    parser.add_argument("--qcmdr", default=os.path.join(REPO, "target/release/qcmdr"))
    args = parser.parse_args()
    if not os.path.exists(args.qcmdr):
        sys.exit(f"{args.qcmdr} not found: cargo build --release first")

    work = tempfile.mkdtemp(prefix="qcmdr-bench-images")
    env = dict(os.environ, XDG_CACHE_HOME=os.path.join(work, "cache"), NO_COLOR="1")
    env.pop("QCMDR_CONFIG", None)
    env.pop("QCMDR_STATE_DIR", None)
    project = os.path.join(work, "project")

    def qcmdr(*argv, check=True):
        return subprocess.run([args.qcmdr, *argv], cwd=project, env=env, check=check,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True)

    try:
        subprocess.run([args.qcmdr, "init", project], env=env, check=True,
                       capture_output=True)
        with open(os.path.join(project, "conf.lua")) as conf:
            accel = "kvm" if "accel=kvm" in conf.read() else "tcg"

        began = time.monotonic()
        qcmdr("image", "build")
        fresh = time.monotonic() - began

        checks = []
        for _ in range(20):
            began = time.monotonic()
            qcmdr("image", "build")
            checks.append(time.monotonic() - began)

        boots = []
        for _ in range(args.boots):
            report = json.loads(qcmdr("start", "--reset-disk", "--json", "dev").stdout)
            boots.append(report["vms"][0]["total_s"])
            qcmdr("stop", "dev")

        print(f"fresh build     {fresh:7.1f} s   (target <= 90 s)")
        print(f"up-to-date      {statistics.median(checks) * 1000:7.1f} ms  (target <= 100 ms; "
              f"min {min(checks) * 1000:.1f}, max {max(checks) * 1000:.1f})")
        print(f"boot to ready   {statistics.median(boots):7.1f} s   ({accel}, median of "
              f"{len(boots)}: {', '.join(f'{b:.1f}' for b in boots)})")
    finally:
        qcmdr("stop", "--all", "--force", check=False) if os.path.exists(project) else None
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
