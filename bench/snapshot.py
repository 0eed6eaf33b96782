#!/usr/bin/env python3
"""Snapshot benchmarks on the real guest (demo, diskless). Prints figures; asserts nothing.

  bench/snapshot.py [--rounds N] [--qcmdr PATH]     (bench/bench.py ends with these figures too)

Figures (medians over N rounds; each is the wall time of one qcmdr command, as a user waits):
  cold start      = qcmdr start demo                    (boot, login prompt, SSH)
  start --from    = qcmdr start demo --from base        (load, SSH, guest clock)
  ratio           = start --from / cold start, measured alternately in the same run
  save            = qcmdr snapshot save demo NAME on the running VM, and the state file's size
"""

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import REPO, Bench, build_guest, ms  # noqa: E402


def timed(bench, *args):
    t = time.perf_counter()
    run = bench.ok(*args)
    return time.perf_counter() - t, run


def stages(run):
    """Stage name -> seconds, from a `start --json` document."""
    return {s["stage"]: s["took_s"] for s in json.loads(run.stdout)["vms"][0]["stages"]}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--qcmdr", default=os.path.join(REPO, "target/release/qcmdr"))
    args = parser.parse_args()
    report(args.qcmdr, build_guest(), args.rounds)


def report(qcmdr, guest, rounds):
    """Prints the snapshot figures (also the last section of bench/bench.py)."""
    bench = Bench(qcmdr, guest)
    try:
        bench.ok("start", "demo")
        saves, sizes, pauses = [], [], []
        for n in range(rounds):
            saves.append(timed(bench, "snapshot", "save", "demo", f"s{n}")[0])
            listed = json.loads(bench.ok("snapshot", "list", "demo", "--json").stdout)
            entry = next(s for s in listed["snapshots"] if s["name"] == f"s{n}")
            sizes.append(entry["size_bytes"])
            pauses.append(entry["took_s"])
        bench.ok("stop", "demo")

        cold, warm, cold_stages, warm_stages = [], [], [], []
        for _ in range(rounds):
            took, run = timed(bench, "start", "demo", "--json")
            cold.append(took)
            cold_stages.append(stages(run))
            bench.ok("stop", "demo")
            took, run = timed(bench, "start", "demo", "--from", "s0", "--json")
            warm.append(took)
            warm_stages.append(stages(run))
            bench.ok("stop", "demo")
        med = statistics.median

        def breakdown(rows):
            return ", ".join(f"{name} {med(r[name] for r in rows) * 1000:.0f}" for name in rows[0])

        print(f"rounds: {rounds} (TCG, 2 cores, demo guest 256 MiB)")
        print(f"cold start -> ready           (median)  {ms(med(cold))}")
        print(f"start --from -> ready         (median)  {ms(med(warm))}   target <= 1000 ms")
        print(f"ratio start --from / cold start         {med(warm) / med(cold):7.3f}      target <= 0.15")
        print(f"  cold stages, ms (median)   {breakdown(cold_stages)}")
        print(f"  --from stages, ms (median) {breakdown(warm_stages)}")
        print(f"snapshot save, running VM     (median)  {ms(med(saves))}   (guest paused {ms(med(pauses)).strip()})")
        print(f"snapshot size (state file)              {med(sizes) / 2**20:7.1f} MiB")
    finally:
        bench.cleanup()


if __name__ == "__main__":
    main()
