#!/usr/bin/env python3
"""Guardian's cyclomatic complexity against radon 6, on a corpus.

Runs `radon cc --json` and `hive guardian metrics --json` on the same tree
(by default the CPython standard library of this Python, without
site-packages) and compares the complexity of every function and method
radon reports, matched by (file, line, name). Prints the agreement and the
disagreements, and exits 1 below the target (99 %).

Usage: radon_compare.py [--radon RADON] [--hive HIVE] [--corpus DIR] [--target 0.99]
"""

import argparse
import json
import os
import subprocess
import sys
import sysconfig


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--radon", default="radon")
    parser.add_argument("--hive", default="target/release/hive")
    parser.add_argument("--corpus", default=sysconfig.get_paths()["stdlib"])
    parser.add_argument("--target", type=float, default=0.99)
    parser.add_argument("--show", type=int, default=25)
    args = parser.parse_args()
    corpus = os.path.realpath(args.corpus)

    radon = subprocess.run(
        [args.radon, "cc", "--json", "--exclude", "*/site-packages/*", corpus],
        capture_output=True, text=True, check=False,
    )
    if radon.returncode != 0:
        sys.exit(f"radon failed: {radon.stderr[-2000:]}")
    expected = {}
    radon_errors = 0
    for path, blocks in json.loads(radon.stdout).items():
        if isinstance(blocks, dict):
            radon_errors += 1
            continue
        path = os.path.realpath(path)
        for block in blocks:
            if block["type"] in ("function", "method"):
                expected[(path, block["lineno"], block["name"])] = block["complexity"]

    hive = subprocess.run(
        [args.hive, "guardian", "metrics", corpus, "--exclude", "site-packages", "--json"],
        capture_output=True, text=True, check=False,
    )
    if hive.returncode != 0:
        sys.exit(f"hive guardian metrics failed ({hive.returncode}): {hive.stderr}")
    found = {}
    for file in json.loads(hive.stdout)["files"]:
        path = os.path.realpath(file["path"])
        for function in file["functions"]:
            found[(path, function["line"], function["name"])] = function["complexity"]

    agree = [key for key, value in expected.items() if found.get(key) == value]
    missing = [key for key in expected if key not in found]
    differ = [key for key in expected if key in found and found[key] != expected[key]]
    share = len(agree) / len(expected) if expected else 1.0
    print(f"corpus: {corpus}; radon could not parse {radon_errors} files")
    print(f"functions radon reports: {len(expected)}; same complexity: {len(agree)} ({share:.4%}); "
          f"different: {len(differ)}; not found by Guardian: {len(missing)}")
    for key in sorted(differ)[: args.show]:
        path, line, name = key
        print(f"    differ: {os.path.relpath(path, corpus)}:{line} {name}: radon {expected[key]}, guardian {found[key]}")
    for key in sorted(missing)[: args.show]:
        path, line, name = key
        print(f"    missing: {os.path.relpath(path, corpus)}:{line} {name}")
    ok = share >= args.target
    print("PASS" if ok else f"FAIL: below {args.target:.0%}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
