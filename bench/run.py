#!/usr/bin/env python3
"""`qcmdr run` against itself and its peers, side by side in one run. Prints figures; asserts
nothing.

  bench/run.py [--rounds N] [--qcmdr PATH] [--peer-kernel PATH] [--vng PATH] [--vmtest PATH]

Figures (medians over N rounds, the commands taking turns so that all see the same load; each
is the wall time of one command running `true` in a fresh VM under TCG, as a user waits):
  cold           = qcmdr run demo -- true                 (boot, login prompt, SSH, true, teardown)
  warm           = qcmdr run --from s0 demo -- true       (restore, SSH, clock, true, teardown)
  virtme-ng      = vng --run KERNEL --disable-kvm --exec true
  vmtest         = vmtest -k KERNEL -- true
The peers boot the host's own root file system over 9p/virtiofs, which the demo guest's kernel
(Debian's cloud kernel) cannot mount: they get --peer-kernel, Debian's generic kernel of the same
version (its modules beside it, as `dpkg -x` of the linux-image package lays them out). A peer
that cannot run is said so, with its own last words, and left out of the ratios.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import REPO, Bench, build_guest, ms  # noqa: E402

PEER_TIMEOUT = 300


def timed(argv, env=None):
    """Wall time, exit code and the last line of stderr of one command."""
    t = time.perf_counter()
    run = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                         env=env, timeout=PEER_TIMEOUT)
    took = time.perf_counter() - t
    return took, run.returncode, last_words(run.stderr or run.stdout), run.stdout


def last_words(text):
    """A failed command's own explanation: its last lines before any stack backtrace."""
    lines = [line.strip() for line in text.split("Stack backtrace:")[0].splitlines()]
    return " / ".join([line for line in lines if line][-3:])


def stage_breakdown(documents):
    """`stage ms` medians from `qcmdr run --json` documents."""
    names = [s["stage"] for s in documents[0]["stages"]]
    med = statistics.median
    return ", ".join(
        f"{name} {med(next(s['took_s'] for s in d['stages'] if s['stage'] == name) for d in documents) * 1000:.0f}"
        for name in names
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--qcmdr", default=os.path.join(REPO, "target/release/qcmdr"))
    parser.add_argument("--peer-kernel", help="kernel image for the peers (see above)")
    parser.add_argument("--vng", default=shutil.which("vng"))
    parser.add_argument("--vmtest", default=shutil.which("vmtest"))
    args = parser.parse_args()
    guest = build_guest()

    bench = Bench(args.qcmdr, guest)
    peers = {}
    why_not = {}
    for name, binary, argv in [
        ("virtme-ng", args.vng, lambda b, k: [b, "--run", k, "--disable-kvm", "--exec", "true"]),
        ("vmtest", args.vmtest, lambda b, k: [b, "-k", k, "--", "true"]),
    ]:
        if not binary:
            why_not[name] = "not installed"
        elif not args.peer_kernel:
            why_not[name] = "no --peer-kernel given"
        else:
            peers[name] = argv(binary, args.peer_kernel)
    # vng runs its helpers (virtme-run) from PATH: the folder it was installed in.
    env = dict(os.environ)
    if args.vng:
        env["PATH"] = os.path.dirname(os.path.abspath(args.vng)) + os.pathsep + env["PATH"]
    try:
        bench.ok("start", "demo")
        bench.ok("snapshot", "save", "demo", "s0", "--stop")
        base = [args.qcmdr, "-c", bench.conf, "run"]
        ours = {
            "cold": base + ["--json", "demo", "--", "true"],
            "warm": base + ["--json", "--from", "s0", "demo", "--", "true"],
        }
        times = {name: [] for name in list(ours) + list(peers)}
        documents = {name: [] for name in ours}
        codes = {}
        for _ in range(args.rounds):
            for name, argv in ours.items():
                took, code, said, out = timed(argv)
                if code != 0:
                    sys.exit(f"{' '.join(argv)} exited {code}: {said}")
                times[name].append(took)
                documents[name].append(json.loads(out))
            for name, argv in list(peers.items()):
                try:
                    took, code, said, _ = timed(argv, env)
                except subprocess.TimeoutExpired:
                    code, said = None, f"no result within {PEER_TIMEOUT} s"
                # vng exits 255 here even for `true` (see bench/README.md): the VM booted, ran
                # the command and powered off, only the code was lost. Its time counts.
                if code == 0 or (name == "virtme-ng" and code == 255):
                    times[name].append(took)
                    codes.setdefault(name, set()).add(code)
                else:
                    why_not[name] = f"exited {code} after {took:.1f} s: {said}"
                    del peers[name]
                    del times[name]

        med = {name: statistics.median(samples) for name, samples in times.items() if samples}
        print(f"rounds: {args.rounds} (TCG, {os.cpu_count()} cores, load average at the end "
              f"{os.getloadavg()[0]:.1f})")
        for name, argv in list(ours.items()) + list(peers.items()):
            shown = [os.path.basename(argv[0])] + argv[1:]
            print(f"  {name:10} {' '.join(shown)}")
        print(f"qcmdr run, cold boot      (median)  {ms(med['cold'])}")
        print(f"qcmdr run --from snapshot (median)  {ms(med['warm'])}   target <= 1000 ms")
        print(f"ratio warm / cold                   {med['warm'] / med['cold']:7.3f}      target <= 0.25")
        print(f"  cold stages, ms (median)  {stage_breakdown(documents['cold'])}")
        print(f"  warm stages, ms (median)  {stage_breakdown(documents['warm'])}")
        for name in peers:
            print(f"{name:25} (median)  {ms(med[name])}   exit codes {sorted(codes[name])}")
        if peers:
            fastest = min(peers, key=lambda n: med[n])
            print(f"ratio cold / {fastest:12}         {med['cold'] / med[fastest]:7.3f}      target <= 1.0")
            print(f"ratio warm / {fastest:12}         {med['warm'] / med[fastest]:7.3f}      target <= 0.3")
        for name, why in why_not.items():
            print(f"{name}: not measured: {why}")
    finally:
        bench.cleanup()


if __name__ == "__main__":
    main()
