#!/usr/bin/env python3
"""Runs mutated copies of the bundled scenarios through `vtsim run`.

Each trial takes one bundled scenario, replaces one numeric literal (outside
comments) with an extreme or odd value (0, -0.0, -1, 1e-300, 1e300, 2^32,
2^53 + 1, ...), shortens the run to --short-s past its last scheduled event
unless the mutated literal is a time (`..._s:`), and runs it.
A valid vtsim answers with a result (exit 0) or a clear error (exit 1 or 2);
anything else is reported, and so is a run that outlives the timeout:

  PANIC  the message says `panicked` (or the exit code is 101)
  EXIT   another exit code or a signal
  SLOW   still running after --timeout-s (a hang, or a legitimately heavy
         mutation such as 10^5 packets/s: read the value before filing it)

Every reported scenario is kept as OUT/finding-N.ron. Usage:

  cargo build --release
  scripts/mutate_scenarios.py [--trials 200] [--seed 1] [--timeout-s 30]
"""

import argparse
import glob
import os
import random
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VALUES = ["0", "-0.0", "-1", "1e-6", "1e-3", "0.5", "0.999", "3", "7",
          "255", "1e-9", "1e-300", "1e300", "1e9", "1e15", "65536", "100000",
          "4294967296", "9007199254740993"]
NUMBER = re.compile(r"(?<![\w.])-?\d+(\.\d+)?([eE][-+]?\d+)?(?![\w.])")
DURATION = re.compile(r"duration_s:\s*([\d.eE+]+)")
METRICS_FROM = re.compile(r"metrics_from_s:\s*[\d.eE+]+")
EVENT_AT = re.compile(r"\bat_s:\s*([\d.eE+]+)")


def mutate(text, rng, short_s):
    """One numeric literal replaced; returns (text, line, old, new)."""
    lines = text.split("\n")
    sites = [(i, m.start(), m.end())
             for i, line in enumerate(lines)
             for m in NUMBER.finditer(line.split("//")[0])]
    i, a, b = rng.choice(sites)
    old, new = lines[i][a:b], rng.choice(VALUES)
    lines[i] = lines[i][:a] + new + lines[i][b:]
    out = "\n".join(lines)
    # Shorten long runs to `short_s` past their last scheduled event (and
    # the warm-up they skip), unless the mutation is in a time.
    m = DURATION.search(out)
    if m and "_s:" not in lines[i]:
        last_event_s = max([0.0] + [float(x) for x in EVENT_AT.findall(out)])
        end_s = int(last_event_s) + short_s
        if float(m.group(1)) > end_s:
            out = DURATION.sub(f"duration_s: {end_s}", out, count=1)
            out = METRICS_FROM.sub(f"metrics_from_s: {short_s // 4}", out)
    return out, i + 1, old, new


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout-s", type=float, default=30.0)
    ap.add_argument("--short-s", type=int, default=120,
                    help="run kept past the last scheduled event (default 120 s)")
    ap.add_argument("--bin", default=os.path.join(ROOT, "target/release/vtsim"))
    ap.add_argument("--out", default=os.path.join(ROOT, "out/mutations"))
    args = ap.parse_args()

    rng = random.Random(args.seed)
    os.makedirs(args.out, exist_ok=True)
    scenarios = sorted(glob.glob(os.path.join(ROOT, "scenarios", "*.ron")))
    findings = 0
    answers = {"ran": 0, "refused": 0}
    for _ in range(args.trials):
        path = rng.choice(scenarios)
        with open(path) as f:
            text, line, old, new = mutate(f.read(), rng, args.short_s)
        trial_path = os.path.join(args.out, "trial.ron")
        with open(trial_path, "w") as f:
            f.write(text)
        cmd = [args.bin, "run", "--quiet", "--force",
               "--out", os.path.join(args.out, "run"), trial_path]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True,
                               timeout=args.timeout_s)
            kind = None
            answers["ran" if r.returncode == 0 else "refused"] += 1
            if "panicked" in r.stderr or r.returncode == 101:
                kind = "PANIC"
            elif r.returncode not in (0, 1, 2):
                kind = "EXIT"
            detail = r.stderr.strip().splitlines()[-1:] if kind else []
        except subprocess.TimeoutExpired:
            kind, detail = "SLOW", []
        if kind:
            findings += 1
            keep = os.path.join(args.out, f"finding-{findings}.ron")
            os.replace(trial_path, keep)
            name = os.path.basename(path)
            print(f"{kind} {name}:{line}: {old} -> {new} ({keep})",
                  *detail, flush=True)
    print(f"{args.trials} trials: {answers['ran']} ran, {answers['refused']} "
          f"refused with an error, {findings} reported")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
