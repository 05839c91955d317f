"""End-to-end benchmark: wall time of the whole browser suite, ``python -m pytest tests/e2e -q``.

``python -m bench.e2e`` runs the suite several times, each in a fresh process exactly as the
README's command does (on every core, pytest-xdist), then as many times in one process
(``-n0``), and reports the median wall times with the pass/fail counts of each run (a run with
failures is still timed, and flagged). There is no peer suite to run beside it; the per-test
mean is given (in one process it is what each test costs, a real call included) so suites of
different sizes can be compared over time.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

from bench import common

SUITE = ["tests/e2e"]
# One small module of the suite, for --smoke: it shows the tooling runs pytest and reads its
# counts and time, in a few seconds (the suite itself runs every e2e test).
SMOKE = ["tests/registry/test_origin.py"]
# (case, label, extra pytest arguments)
CASES = [("e2e_suite", "every core (as the README runs it)", []), ("e2e_one_process", "one process (-n0)", ["-n0"])]
_COUNT = re.compile(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed)")


def _once(paths: list[str], timeout: float) -> dict:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", *paths, "-q", "-p", "no:cacheprovider"],
                          cwd=common.REPO, capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - started
    lines = done.stdout.strip().splitlines()
    summary = (lines or [""])[-1]
    counts = {kind.rstrip("s") if kind.startswith("error") else kind: int(n) for n, kind in _COUNT.findall(summary)}
    # Which tests failed, so a red run can be looked into.
    failed = [line.split(" ", 1)[1] for line in lines if line.startswith(("FAILED ", "ERROR "))]
    return {"seconds": round(seconds, 2), "exit_code": done.returncode, "summary": summary, "counts": counts,
            "failed": failed}


def run(paths: list[str], runs: int, timeout: float, cases: list = CASES) -> dict:
    every, rows = [], []
    for case, label, extra in cases:
        results = []
        for number in range(runs):
            result = _once([*paths, *extra], timeout) | {"case": case}
            results.append(result)
            print(f"  {label}, run {number + 1}/{runs}: {result['seconds']:.1f} s  {result['summary']}", flush=True)
        every += results
        seconds = common.median([r["seconds"] for r in results])
        tests = max((sum(v for k, v in r["counts"].items() if k in ("passed", "failed", "error")) for r in results), default=0)
        rows.append({"case": case, "label": f"pytest {' '.join(paths)}, {label}", "median_s": round(seconds, 2),
                     "min_s": min(r["seconds"] for r in results), "max_s": max(r["seconds"] for r in results),
                     "tests": tests, "per_test_s": round(seconds / tests, 2) if tests else None,
                     "all_green": all(r["exit_code"] == 0 for r in results)})
    return {"command": f"python -m pytest {' '.join(paths)} -q", "runs": every, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.e2e", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help=f"one run of {' '.join(SMOKE)} only")
    parser.add_argument("--runs", type=int, default=3, help="runs of the whole suite, for each case (default 3)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds before a run is abandoned (default 900)")
    parser.add_argument("--results", type=Path, help="folder for the JSON (default bench/results)")
    args = parser.parse_args(argv)
    info = common.machine()
    # The smoke run is one test: in one process, as starting workers would be most of its time.
    data = run(SMOKE, 1, args.timeout, CASES[1:]) if args.smoke else run(SUITE, args.runs, args.timeout)
    data["machine"] = common.finish_machine(info)
    path = common.write_results("e2e", data, args.smoke, args.results)
    print(f"e2e: {data['command']}, median of {args.runs if not args.smoke else 1} runs per case")
    print(common.table(["suite", "tests", "median s", "min s", "max s", "s per test", "all green"],
                       [(row["label"], row["tests"], row["median_s"], row["min_s"], row["max_s"], row["per_test_s"],
                         "yes" if row["all_green"] else "NO") for row in data["rows"]]))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
