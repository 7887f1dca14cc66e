#!/usr/bin/env python3
"""Guardian's six ruff-mirroring rules against ruff itself, on a corpus.

Runs `ruff check --select T201,S307,S102,E722,F403,T100` and
`hive guardian check --format json` on the same tree (by default the
CPython standard library of this Python, without site-packages), and
compares the (rule, file, line) sets per rule. ruff runs with
`--ignore-noqa`: the comparison is of the rules, not of the two tools'
suppression comments. Prints precision, recall and
every mismatch with the file's syntax state, and exits 1 when a rule falls
below the target (99 % precision and recall).

Usage: ruff_compare.py [--ruff RUFF] [--hive HIVE] [--corpus DIR] [--target 0.99]
"""

import argparse
import json
import os
import subprocess
import sys
import sysconfig

MIRRORS = {
    "print-call": "T201",
    "eval-usage": "S307",
    "exec-usage": "S102",
    "bare-except": "E722",
    "wildcard-import": "F403",
    "debugger": "T100",
}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ruff", default="ruff")
    parser.add_argument("--hive", default="target/release/hive")
    parser.add_argument("--corpus", default=sysconfig.get_paths()["stdlib"])
    parser.add_argument("--target", type=float, default=0.99)
    parser.add_argument("--show", type=int, default=20, help="mismatches shown per rule")
    args = parser.parse_args()
    corpus = os.path.realpath(args.corpus)

    ruff = subprocess.run(
        [args.ruff, "check", "--no-cache", "--isolated", "--ignore-noqa", "--exclude", "site-packages",
         "--select", ",".join(MIRRORS.values()), "--output-format", "json", corpus],
        capture_output=True, text=True, check=False,
    )
    if ruff.returncode not in (0, 1):
        sys.exit(f"ruff failed: {ruff.stderr}")
    expected = {code: set() for code in MIRRORS.values()}
    syntax_error_files = set()
    for item in json.loads(ruff.stdout):
        path = os.path.realpath(item["filename"])
        if item["code"] is None or item["code"] == "invalid-syntax" or "SyntaxError" in item.get("message", ""):
            syntax_error_files.add(path)
        elif item["code"] in expected:
            expected[item["code"]].add((path, item["location"]["row"]))

    hive = subprocess.run(
        [args.hive, "guardian", "check", corpus, "--exclude", "site-packages", "--format", "json", "--level", "info"],
        capture_output=True, text=True, check=False,
    )
    if hive.returncode not in (0, 1):
        sys.exit(f"hive guardian check failed ({hive.returncode}): {hive.stderr}")
    found = {code: set() for code in MIRRORS.values()}
    guardian_parse_errors = set()
    for finding in json.loads(hive.stdout)["findings"]:
        path = os.path.realpath(finding["path"])
        if finding["rule"] == "parse-error":
            guardian_parse_errors.add(path)
        code = MIRRORS.get(finding["rule"])
        if code and finding.get("suppressed") is None:
            found[code].add((path, finding["line"]))

    ok = True
    print(f"corpus: {corpus}")
    print(f"files with syntax errors: ruff {len(syntax_error_files)}, guardian {len(guardian_parse_errors)}")
    print(f"{'rule':<16} {'ruff':>6} {'guardian':>8} {'both':>6} {'precision':>9} {'recall':>7}")
    for rule, code in MIRRORS.items():
        both = expected[code] & found[code]
        precision = len(both) / len(found[code]) if found[code] else 1.0
        recall = len(both) / len(expected[code]) if expected[code] else 1.0
        ok &= precision >= args.target and recall >= args.target
        print(f"{rule + ' ' + code:<16} {len(expected[code]):>6} {len(found[code]):>8} {len(both):>6} {precision:>9.4f} {recall:>7.4f}")
        for kind, missing in (("only guardian", found[code] - expected[code]), ("only ruff", expected[code] - found[code])):
            for path, line in sorted(missing)[: args.show]:
                note = " (ruff skips rules in files with syntax errors)" if path in syntax_error_files else ""
                print(f"    {kind}: {os.path.relpath(path, corpus)}:{line}{note}")
    print("PASS" if ok else f"FAIL: a rule is below {args.target:.0%} precision or recall")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
