#!/usr/bin/env python3
"""qcmdr image benchmarks: the `qcmdr init` + `qcmdr start dev` path, for real. Prints
figures; asserts nothing.

  bench/images.py [--boots N] [--arch-boots N] [--no-image] [--qcmdr PATH]

Figures:
  fresh build     = `qcmdr image build` of the init config's Debian image into an empty cache
                    (mmdebstrap, customisation, ext4 + qcow2). Target: <= 90 s on 2 cores.
  up-to-date      = `qcmdr image build` when the build exists (median of 20). Target: <= 100 ms.
  boot to ready   = `qcmdr start dev` of the built image under TCG, as reported by start
                    (launch to SSH ready; median of N boots, each from a fresh disk).
  <arch> guest    = `qcmdr start` to ready of the test guest (guest/build.sh,
                    guest/build-arch.sh) of x86_64, aarch64 and riscv64 under TCG, each VM on
                    qcmdr's per-arch defaults (median of --arch-boots boots). The fresh-build
                    figure of a foreign-arch Debian image waits for the foreign builder.
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
    parser.add_argument("--arch-boots", type=int, default=3)
    parser.add_argument("--no-image", action="store_true",
                        help="only the per-arch test guest boots")
    parser.add_argument("--qcmdr", default=os.path.join(REPO, "target/release/qcmdr"))
    args = parser.parse_args()
    args.qcmdr = os.path.abspath(args.qcmdr)
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
        if not args.no_image:
            image_figures(args, qcmdr, project, env)
        arch_figures(args, work, env)
    finally:
        qcmdr("stop", "--all", "--force", check=False) if os.path.exists(project) else None
        shutil.rmtree(work, ignore_errors=True)


# The test guest's console per arch; everything else comes from qcmdr's per-arch defaults.
CONSOLES = {"x86_64": "ttyS0", "aarch64": "ttyAMA0", "riscv64": "ttyS0"}


def guest(arch):
    script = ["guest/build.sh"] if arch == "x86_64" else ["guest/build-arch.sh", arch]
    out = subprocess.run(["bash", *script], cwd=REPO, check=True, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    return out.stdout.strip().splitlines()[-1]


def arch_figures(args, work, env):
    """Start to ready of the test guest of each arch, on qcmdr's per-arch defaults."""
    for arch, console in CONSOLES.items():
        folder = os.path.join(work, f"guest-{arch}")
        os.makedirs(folder)
        g = guest(arch)
        port = free_port()
        with open(os.path.join(folder, "conf.lua"), "w") as conf:
            conf.write(f"""return {{ vms = {{ {{
  name = "g", arch = "{arch}", arch_defaults = true, login_timeout = 300,
  ssh = {{ Port = {port}, User = "root", IdentityFile = "{g}/id_ed25519" }},
  args = {{ "-m 256", "-display none", "-kernel {g}/vmlinuz", "-initrd {g}/initrd.gz",
           "-append", '"console={console} quiet"' }},
}} }} }}
""")
        run = lambda *argv, check=True: subprocess.run(
            [args.qcmdr, *argv], cwd=folder, env=env, check=check,
            stdin=subprocess.DEVNULL, capture_output=True, text=True)
        boots = []
        try:
            for _ in range(args.arch_boots):
                report = json.loads(run("start", "--json", "g").stdout)
                boots.append(report["vms"][0]["total_s"])
                run("stop", "g")
        finally:
            run("stop", "--all", "--force", check=False)
        print(f"{arch + ' guest':15} {statistics.median(boots):7.1f} s   (tcg, start to ready, "
              f"median of {len(boots)}: {', '.join(f'{b:.1f}' for b in boots)})")


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def image_figures(args, qcmdr, project, env):
    """The init config's Debian image: fresh build, up-to-date check, boot to ready."""
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


if __name__ == "__main__":
    main()
