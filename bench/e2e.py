"""End-to-end benchmark: wall time of the whole browser suite, ``python -m pytest tests/e2e -q``.

``python -m bench.e2e`` runs the suite several times, each in a fresh process exactly as the
README's command does, and reports the median wall time with the pass/fail counts of each run
(a run with failures is still timed, and flagged). There is no peer suite to run beside it;
the per-test mean is given so suites of different sizes can be compared over time.
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
# One test of the suite, for --smoke: a sandbox, a browser and a refused page, in seconds.
SMOKE = ["tests/e2e/test_call.py", "-k", "hostile"]
_COUNT = re.compile(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed)")


def _once(paths: list[str], timeout: float) -> dict:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", *paths, "-q", "-p", "no:cacheprovider"],
                          cwd=common.REPO, capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - started
    summary = (done.stdout.strip().splitlines() or [""])[-1]
    counts = {kind.rstrip("s") if kind.startswith("error") else kind: int(n) for n, kind in _COUNT.findall(summary)}
    return {"seconds": round(seconds, 2), "exit_code": done.returncode, "summary": summary, "counts": counts}


def run(paths: list[str], runs: int, timeout: float) -> dict:
    results = []
    for number in range(runs):
        result = _once(paths, timeout)
        results.append(result)
        print(f"  run {number + 1}/{runs}: {result['seconds']:.1f} s  {result['summary']}", flush=True)
    seconds = common.median([r["seconds"] for r in results])
    tests = max((sum(v for k, v in r["counts"].items() if k in ("passed", "failed", "error")) for r in results), default=0)
    return {
        "command": f"python -m pytest {' '.join(paths)} -q",
        "runs": results,
        "rows": [{"case": "e2e_suite", "label": f"pytest {' '.join(paths)}", "median_s": round(seconds, 2),
                  "min_s": min(r["seconds"] for r in results), "max_s": max(r["seconds"] for r in results),
                  "tests": tests, "per_test_s": round(seconds / tests, 2) if tests else None,
                  "all_green": all(r["exit_code"] == 0 for r in results)}],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.e2e", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help=f"one run of {' '.join(SMOKE)} only")
    parser.add_argument("--runs", type=int, default=5, help="runs of the whole suite (default 5)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds before a run is abandoned (default 900)")
    parser.add_argument("--results", type=Path, help="folder for the JSON (default bench/results)")
    args = parser.parse_args(argv)
    info = common.machine()
    data = run(SMOKE if args.smoke else SUITE, 1 if args.smoke else args.runs, args.timeout)
    data["machine"] = common.finish_machine(info)
    path = common.write_results("e2e", data, args.smoke, args.results)
    row = data["rows"][0]
    print(f"e2e: {data['command']}, median of {len(data['runs'])} runs")
    print(common.table(["suite", "tests", "median s", "min s", "max s", "s per test", "all green"],
                       [(row["label"], row["tests"], row["median_s"], row["min_s"], row["max_s"], row["per_test_s"],
                         "yes" if row["all_green"] else "NO")]))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
