#!/usr/bin/env python3
"""Benchmark: `hive guardian check` (every rule) against `ruff check` with the
six mirrored rules, on the same tree, in the same run, alternating.

Reports each tool's best and median wall time over --runs runs, its peak
memory (the child's maximum resident set), lines per second, and the
ratio of Guardian's median wall time to ruff's. Both use every core (ruff
by default; Guardian with one analysis thread per core).

Usage: bench.py [--ruff RUFF] [--hive target/release/hive] [--corpus DIR] [--runs 5]
"""

import argparse
import os
import statistics
import subprocess
import sys
import sysconfig
import time


def run(command):
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        sys.exit(f"{command[0]} exited {code}")
    return elapsed, usage.ru_maxrss / 1024  # MiB (ru_maxrss is in KiB on Linux)


def lines_in(corpus):
    total = 0
    for root, dirs, files in os.walk(corpus):
        dirs[:] = [d for d in dirs if d != "site-packages" and not d.startswith(".") and d != "__pycache__"]
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(root, name), "rb") as f:
                    total += f.read().count(b"\n")
    return total


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ruff", default="ruff")
    parser.add_argument("--hive", default="target/release/hive")
    parser.add_argument("--corpus", default=sysconfig.get_paths()["stdlib"])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    ruff = [args.ruff, "check", "--no-cache", "--isolated", "--exclude", "site-packages",
            "--select", "T201,S307,S102,E722,F403,T100", "--output-format", "concise", args.corpus]
    hive = [args.hive, "guardian", "check", args.corpus, "--exclude", "site-packages", "--format", "json"]
    lines = lines_in(args.corpus)
    results = {"ruff": [], "guardian": []}
    run(ruff), run(hive)  # warm the page cache
    for _ in range(args.runs):
        results["ruff"].append(run(ruff))
        results["guardian"].append(run(hive))
    print(f"corpus: {args.corpus} ({lines:,} lines), {os.cpu_count()} cores, {args.runs} runs each")
    medians = {}
    for tool, samples in results.items():
        times = [t for t, _ in samples]
        medians[tool] = statistics.median(times)
        peak = max(m for _, m in samples)
        print(f"{tool:<9} best {min(times):6.3f} s  median {medians[tool]:6.3f} s  "
              f"{lines / medians[tool] / 1e6:5.2f} M lines/s  peak {peak:6.1f} MiB")
    ratio = medians["guardian"] / medians["ruff"]
    print(f"guardian / ruff wall time (medians): {ratio:.2f}x (target <= 1.5x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
