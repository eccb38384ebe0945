#!/usr/bin/env python3
"""Compares the wall time of two vtsim builds on one bench workload.

This machine's speed drifts by more than most changes move a workload, so
two builds are compared in alternating runs rather than in two benches
taken minutes apart: each pair runs both builds back to back, in ABBA
order (old first in odd pairs, new first in even ones) so that a drift
during a pair does not favour either build. Every run is a fresh process
(`vtsim bench --workload W`, the same measurement `vtsim bench` makes).

Prints, for each build, the median and quartiles of the wall time, then
the median and quartiles of the per-pair ratio new/old and how many
pairs the new build won. Usage:

  cargo build --release && cp target/release/vtsim /tmp/vtsim-old
  # ... change the code, build again ...
  scripts/ab_bench.py /tmp/vtsim-old target/release/vtsim \\
      [--workload a-ntpd-day] [--pairs 40] [--quick]

Workloads: engine, a-ntpd-day, b-radclock-day, c-xen-year-half,
c-xen-year, d-sweep-jobs1, d-sweep-jobs2 (`--quick` shortens the engine,
`c` and the sweep, as `vtsim bench --quick` does).
"""

import argparse
import json
import statistics
import subprocess
import sys


def wall_s(binary, workload, quick):
    cmd = [binary, "bench", "--workload", workload]
    if quick:
        cmd.append("--quick")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)["wall_s"]


def quartiles(xs):
    """(first quartile, median, third quartile), interpolated."""
    if len(xs) < 2:
        return (xs[0], xs[0], xs[0])
    q1, q2, q3 = statistics.quantiles(xs, n=4, method="inclusive")
    return (q1, q2, q3)


def main():
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("old", help="the reference build's vtsim binary")
    ap.add_argument("new", help="the build under test")
    ap.add_argument("--workload", default="a-ntpd-day")
    ap.add_argument("--pairs", type=int, default=40)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.pairs < 1:
        ap.error("--pairs must be at least 1")

    old, new = [], []
    for i in range(args.pairs):
        order = [(args.old, old), (args.new, new)]
        if i % 2 == 1:
            order.reverse()
        for binary, into in order:
            try:
                into.append(wall_s(binary, args.workload, args.quick))
            except subprocess.CalledProcessError as e:
                sys.exit(f"{binary} bench --workload {args.workload} failed:\n{e.stderr.strip()}")
            except (OSError, ValueError, KeyError) as e:
                sys.exit(f"{binary} bench --workload {args.workload}: {e}")
        print(f"\rpair {i + 1}/{args.pairs}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)

    ms = 1e3
    print(f"{args.workload}{' --quick' if args.quick else ''}, {args.pairs} pairs")
    for name, xs in (("old", old), ("new", new)):
        q1, med, q3 = quartiles(xs)
        print(f"  {name}: median {med * ms:.3f} ms (quartiles {q1 * ms:.3f}-{q3 * ms:.3f})")
    ratios = [n / o for o, n in zip(old, new)]
    q1, med, q3 = quartiles(ratios)
    wins = sum(r < 1.0 for r in ratios)
    print(f"  new/old per pair: median {med:.3f} (quartiles {q1:.3f}-{q3:.3f}); new faster in {wins} of {len(ratios)}")


if __name__ == "__main__":
    main()
