#!/usr/bin/env python3
"""qcmdr image benchmarks: the `qcmdr init` + `qcmdr start dev` path, for real. Prints
figures; asserts nothing.

  bench/images.py [--boots N] [--rounds N] [--user NAME] [--arch-boots N] [--no-image]
                  [--image-arches A,B] [--qcmdr PATH]

Figures:
  fresh build     = `qcmdr image build` of the init config's Debian image into an empty cache
                    (mmdebstrap, customisation, ext4 + qcow2). Target: <= 90 s on 2 cores.
                    Run as root and as the regular user NAME (default qcmdr-ci, made by
                    scripts/test-as-user.sh; its build is rootless: a user namespace over its
                    subordinate ids), in turn, --rounds times each, same recipe: the ratio of
                    the medians, rootless / root, targets <= 1.15.
  up-to-date      = `qcmdr image build` when the build exists (median of 20), as root and as
                    the user. Target: <= 100 ms.
  boot to ready   = `qcmdr start dev` of the built image as the user (its init config: TCG
                    without /dev/kvm), as reported by start (launch to SSH ready; median of N
                    boots, each from a fresh disk).
  <arch> guest    = `qcmdr start` to ready of the test guest (guest/build.sh,
                    guest/build-arch.sh) of x86_64, aarch64 and riscv64 under TCG, each VM on
                    qcmdr's per-arch defaults (median of --arch-boots boots; 0: none).
  <arch> image    = per arch of --image-arches (default x86_64,aarch64; empty: none), side by
                    side: `qcmdr init --arch <arch>`, a fresh `qcmdr image build` of its Debian
                    image as root (a foreign arch's maintainer scripts run through qemu-user),
                    --rounds times, the arches in turn; then `start --reset-disk` to ready
                    under TCG (median of --boots). Runs with --no-image too.
"""

import argparse
import json
import os
import pwd
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Runs argv (JSON) N times and prints each wall time: run by the user itself, so the figures
# leave out what runuser costs.
TIMER = """import json, subprocess, sys, time
argv, times = json.loads(sys.argv[1]), []
for _ in range(int(sys.argv[2])):
    began = time.monotonic()
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, capture_output=True)
    times.append(time.monotonic() - began)
print(json.dumps(times))
"""
USER_PATH = "/usr/local/bin:/usr/bin:/bin"


class Side:
    """One builder of the same recipe: root in its own folder, or a regular user in another,
    each with an empty image cache of its own."""

    def __init__(self, qcmdr, work, user=None):
        self.qcmdr, self.work, self.user = qcmdr, work, user
        self.project = os.path.join(work, "project")
        self.cache = os.path.join(work, "cache")
        self.env = {"XDG_CACHE_HOME": self.cache, "NO_COLOR": "1"}

    def run(self, *argv, check=True):
        """argv as this side (the user gets a clean environment and a user's PATH)."""
        if self.user is None:
            env = dict(os.environ, **self.env)
            env.pop("QCMDR_CONFIG", None)
            env.pop("QCMDR_STATE_DIR", None)
            prefix = []
        else:
            home = pwd.getpwnam(self.user).pw_dir
            env = None
            settings = dict(self.env, HOME=home, USER=self.user, LOGNAME=self.user,
                            PATH=USER_PATH, LANG="C.UTF-8")
            prefix = ["runuser", "-u", self.user, "--", "env", "-i",
                      *(f"{k}={v}" for k, v in settings.items())]
        return subprocess.run([*prefix, *argv], cwd=self.work, env=env, check=check,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True)

    def timed(self, argv, times):
        """Wall times of `qcmdr ARGV` (in the project), run `times` times by this side."""
        command = [self.qcmdr, "--config", os.path.join(self.project, "conf.lua"), *argv]
        # The system's python3: the user's PATH has no root-only interpreter.
        out = self.run("/usr/bin/python3", "-c", TIMER, json.dumps(command), str(times))
        return json.loads(out.stdout)

    def fresh_build(self):
        self.run("rm", "-rf", self.cache)
        return self.timed(["image", "build"], 1)[0]

    def boots(self, times, label):
        """`start --reset-disk` to ready of the project's VM `dev`, `times` times: each total_s
        that start reports (a failed boot is printed with `label` and left out)."""
        config, totals = os.path.join(self.project, "conf.lua"), []
        for _ in range(times):
            started = self.run(self.qcmdr, "--config", config, "start", "--reset-disk",
                               "--json", "dev", check=False)
            self.run(self.qcmdr, "--config", config, "stop", "--force", "dev", check=False)
            if started.returncode != 0:
                print(f"{label} boot failed: {started.stderr.strip()[-300:]}")
                continue
            totals.append(json.loads(started.stdout)["vms"][0]["total_s"])
        return totals

    def image_key(self):
        listed = self.run(self.qcmdr, "--config", os.path.join(self.project, "conf.lua"),
                          "image", "list", "--json")
        return json.loads(listed.stdout)["images"][0]["key"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--boots", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1,
                        help="fresh builds per side, root and rootless in turn")
    parser.add_argument("--user", default="qcmdr-ci",
                        help="the regular user of the rootless builds")
    parser.add_argument("--arch-boots", type=int, default=3)
    parser.add_argument("--no-image", action="store_true",
                        help="no root/rootless build figures")
    parser.add_argument("--image-arches", default="x86_64,aarch64",
                        help="arches of the init config's image to build and boot, side by side")
    parser.add_argument("--qcmdr", default=os.path.join(REPO, "target/release/qcmdr"))
    args = parser.parse_args()
    args.qcmdr = os.path.abspath(args.qcmdr)
    if not os.path.exists(args.qcmdr):
        sys.exit(f"{args.qcmdr} not found: cargo build --release first")
    if not args.no_image:
        image_figures(args)
    arches = [a for a in args.image_arches.split(",") if a]
    if arches:
        arch_image_figures(args, arches)
    if args.arch_boots > 0:
        work = tempfile.mkdtemp(prefix="qcmdr-bench-arch")
        env = dict(os.environ, XDG_CACHE_HOME=os.path.join(work, "cache"), NO_COLOR="1")
        env.pop("QCMDR_CONFIG", None)
        env.pop("QCMDR_STATE_DIR", None)
        try:
            arch_figures(args, work, env)
        finally:
            shutil.rmtree(work, ignore_errors=True)


def image_figures(args):
    """Fresh builds as root and as the user, up-to-date checks, boots as the user."""
    if os.geteuid() != 0:
        sys.exit("run it as root: it builds as root and as --user, in turn")
    try:
        pwd.getpwnam(args.user)
    except KeyError:
        sys.exit(f"no user {args.user}: sudo bash scripts/test-as-user.sh makes qcmdr-ci, "
                 "or name a regular user with subordinate ids with --user")

    root_work = tempfile.mkdtemp(prefix="qcmdr-bench-images", dir="/var/tmp")
    user_work = tempfile.mkdtemp(prefix="qcmdr-bench-images-user", dir="/var/tmp")
    entry = pwd.getpwnam(args.user)
    os.chown(user_work, entry.pw_uid, entry.pw_gid)
    root, user = Side(args.qcmdr, root_work), Side(args.qcmdr, user_work, args.user)
    try:
        for side in (root, user):
            side.run(args.qcmdr, "init", side.project)
        if root.image_key() != user.image_key():
            sys.exit("the two init configs have different image recipes: no comparison")
        conf = user.run("cat", os.path.join(user.project, "conf.lua")).stdout
        accel = "kvm" if "accel=kvm" in conf else "tcg"

        fresh = {"root": [], "rootless": []}
        for round_ in range(args.rounds):
            # In turn, the first one alternating, so that a change of load hits both.
            order = [("root", root), ("rootless", user)]
            for name, side in order if round_ % 2 == 0 else order[::-1]:
                fresh[name].append(side.fresh_build())
        checks = {"root": root.timed(["image", "build"], 20),
                  "rootless": user.timed(["image", "build"], 20)}

        def figures(times):
            return ", ".join(f"{t:.1f}" for t in times)

        root_fresh = statistics.median(fresh["root"])
        user_fresh = statistics.median(fresh["rootless"])
        print(f"fresh build, root       {root_fresh:7.1f} s   (target <= 90 s; "
              f"{figures(fresh['root'])})")
        print(f"fresh build, rootless   {user_fresh:7.1f} s   (as {args.user}; "
              f"{figures(fresh['rootless'])})")
        print(f"ratio rootless / root   {user_fresh / root_fresh:7.2f}     (target <= 1.15)")
        for name in ("root", "rootless"):
            times = checks[name]
            print(f"up-to-date, {name:<9}   {statistics.median(times) * 1000:7.1f} ms  "
                  f"(target <= 100 ms; min {min(times) * 1000:.1f}, "
                  f"max {max(times) * 1000:.1f})", flush=True)

        # Boots as the user: its init chose what this user can run (TCG without /dev/kvm).
        boots = user.boots(args.boots, args.user)
        if boots:
            print(f"boot to ready   {statistics.median(boots):7.1f} s   ({accel}, as "
                  f"{args.user}, median of {len(boots)}: {figures(boots)})")
    finally:
        for side in (root, user):
            if os.path.exists(side.project):
                side.run(args.qcmdr, "--config", os.path.join(side.project, "conf.lua"),
                         "stop", "--all", "--force", check=False)
            side.run("rm", "-rf", side.work, check=False)
        shutil.rmtree(root_work, ignore_errors=True)
        shutil.rmtree(user_work, ignore_errors=True)


def arch_image_figures(args, arches):
    """The init config's image of each arch, built fresh and booted to ready, as root."""
    sides = {}
    try:
        for arch in arches:
            side = Side(args.qcmdr, tempfile.mkdtemp(prefix=f"qcmdr-bench-{arch}", dir="/var/tmp"))
            side.run(args.qcmdr, "init", "--arch", arch, side.project)
            sides[arch] = side
        builds = {arch: [] for arch in arches}
        for round_ in range(args.rounds):
            order = arches if round_ % 2 == 0 else arches[::-1]
            for arch in order:
                builds[arch].append(sides[arch].fresh_build())
        for arch in arches:
            boots = sides[arch].boots(args.boots, arch)
            built = ", ".join(f"{t:.1f}" for t in builds[arch])
            booted = ", ".join(f"{t:.1f}" for t in boots)
            print(f"{arch + ' image':15} fresh build {statistics.median(builds[arch]):6.1f} s "
                  f"({built}); boot to ready "
                  f"{statistics.median(boots) if boots else float('nan'):5.1f} s "
                  f"(tcg, median of {len(boots)}: {booted})", flush=True)
    finally:
        for side in sides.values():
            side.run(args.qcmdr, "--config", os.path.join(side.project, "conf.lua"),
                     "stop", "--all", "--force", check=False)
            shutil.rmtree(side.work, ignore_errors=True)


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


if __name__ == "__main__":
    main()
