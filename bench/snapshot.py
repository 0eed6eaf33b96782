#!/usr/bin/env python3
"""Snapshot benchmarks on the real guest (demo, diskless). Prints figures; asserts nothing.

  bench/snapshot.py [--rounds N] [--qcmdr PATH] [--against PATH]
                                                    (bench/bench.py ends with these figures too)

Figures (medians over N rounds; each is the wall time of one qcmdr command, as a user waits):
  cold start      = qcmdr start demo                    (boot, login prompt, SSH)
  start --from    = qcmdr start demo --from base        (load, SSH, guest clock)
  ratio           = start --from / cold start, measured alternately in the same run
  save            = qcmdr snapshot save demo NAME on the running VM, and the state file's size
  state check     = SHA-256 of the state file's first and last MiB, what start --from reads to
                    check the mark recorded at save (hashlib here, the same bytes and hash),
                    against the whole file's
  --against       = start --from by this qcmdr and by another build (e.g. the one before a
                    change), alternately on the same snapshot, so both meet the same load
"""

import argparse
import hashlib
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


def hash_time(path, ranges):
    """Seconds to SHA-256 the (offset, length) ranges of the file at `path`."""
    t = time.perf_counter()
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for offset, length in ranges:
            f.seek(offset)
            digest.update(f.read(length))
    return time.perf_counter() - t


def stages(run):
    """Stage name -> seconds, from a `start --json` document."""
    return {s["stage"]: s["took_s"] for s in json.loads(run.stdout)["vms"][0]["stages"]}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--qcmdr", default=os.path.join(REPO, "target/release/qcmdr"))
    parser.add_argument("--against", help="another qcmdr: start --from by both, alternately")
    args = parser.parse_args()
    report(args.qcmdr, build_guest(), args.rounds, args.against)


def report(qcmdr, guest, rounds, against=None):
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
        state = os.path.join(entry["path"], "state")
        mib, size = 2**20, os.path.getsize(state)
        ends = [hash_time(state, [(0, mib), (size - mib, mib)]) for _ in range(rounds)]
        whole = [hash_time(state, [(0, size)]) for _ in range(rounds)]

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
        print(f"state check, first+last MiB   (median)  {ms(med(ends))}   (whole file {ms(med(whole)).strip()})")
        if against:
            compare(bench, qcmdr, against, 2 * rounds)
    finally:
        bench.cleanup()


def compare(bench, qcmdr, against, rounds):
    """start --from s0 by `qcmdr` and by `against`, alternately, on the same snapshot."""
    times = {qcmdr: [], against: []}
    for _ in range(rounds):
        for binary in times:
            bench.qcmdr = binary
            times[binary].append(timed(bench, "start", "demo", "--from", "s0")[0])
            bench.ok("stop", "demo")
    bench.qcmdr = qcmdr
    mine, theirs = (statistics.median(times[b]) for b in (qcmdr, against))
    print(f"start --from, {rounds} each alternately (median): this qcmdr {ms(mine).strip()}, "
          f"{against} {ms(theirs).strip()}")


if __name__ == "__main__":
    main()
