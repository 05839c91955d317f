"""Abuse benchmark: a real visitor's creates while one address floods the proxy.

``python -m bench.abuse`` starts the fast fake upstream (bench/upstream.py, also a bot check
provider that refuses every token) and ``python -m proxy serve`` with the documented defaults
(20 attempts a minute per IP; the visitors' agent budget raised out of their way), then runs three
phases of ``--duration`` seconds:

- **unloaded**: visitors alone; their p99 is the reference;
- **bot flood**: wrk from 127.0.0.1 at the highest rate it reaches, each request a registered
  page's Origin and agent with a new bogus ``bot_token`` for a client that requires Turnstile
  (bench/wrk/flood.lua), while the visitors go on;
- **origin flood**: the same, with a foreign Origin.

Visitors are real visitors: ``--visitors`` addresses of their own on loopback (127.0.0.2 and up,
each its own IP to the proxy), each creating a call for a client without a bot check every
``--visitor-interval`` seconds, within its IP budget. Reported per phase: the visitors' success
rate and p50/p99 (and p99 against the unloaded one: the goal is 100% and at most 2x), the flood's
requests/s and how many of them the provider was asked about, and the usage rows the flood added.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench import common
from bench.upstream import start as start_upstream
from bench.gen_site import clients_text

LUA = Path(__file__).resolve().parent / "wrk" / "flood.lua"
API_KEY = "key_bench_0123456789abcdef"
SECRET = "turnstile-secret-for-the-bench"
GOAL_P99_RATIO = 2.0


def _registry(folder: Path) -> Path:
    """Two clients: the flood's, which requires Turnstile, and the visitors', which does not."""
    text = clients_text(2, ["1.2.0"]).replace(
        'agents = ["agent_client_0001"]', 'agents = ["agent_client_0001"]\nbot_check = "turnstile"\nbot_site_key = "0x4AAAbench"')
    path = folder / "clients.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _visitors(port: int, count: int, interval: float, stop: threading.Event, results: list[tuple[float, int]],
              each_once: threading.Event) -> list[threading.Thread]:
    """One thread per visitor address, each creating a call every ``interval`` seconds;
    ``each_once`` is set once every visitor has had an answer (or given up on one)."""
    import httpx

    answered: set[str] = set()
    lock = threading.Lock()

    def record(address: str, seconds: float, status: int) -> None:
        results.append((seconds, status))
        with lock:
            answered.add(address)
            if len(answered) == count:
                each_once.set()

    def visit(address: str) -> None:
        transport = httpx.HTTPTransport(local_address=address)
        with httpx.Client(transport=transport, base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            client.get("/api/health")  # the connection is made before anything is timed
            next_at = time.monotonic()
            while not stop.is_set():
                started = time.perf_counter()
                try:
                    status = client.post("/api/create-web-call", json={"agent_id": "agent_client_0002"},
                                         headers={"Origin": "https://www.client-0002.example"}).status_code
                except httpx.HTTPError:
                    status = 0
                record(address, time.perf_counter() - started, status)
                next_at += interval
                stop.wait(max(0.0, next_at - time.monotonic()))  # the visitor's own pace

    threads = [threading.Thread(target=visit, args=(f"127.0.0.{2 + n}",), daemon=True) for n in range(count)]
    for thread in threads:
        thread.start()
    return threads


def _phase(name: str, port: int, up_port: int, seconds: float, visitors: int, interval: float, flood: str | None,
           connections: int, database: Path) -> dict:
    import httpx

    started = time.time()
    asked_before = httpx.get(f"http://127.0.0.1:{up_port}/stats", timeout=10).json()["siteverify"]
    results: list[tuple[float, int]] = []
    stop, each_once = threading.Event(), threading.Event()
    threads = _visitors(port, visitors, interval, stop, results, each_once)
    wrk = None
    try:
        if flood is not None:
            origin = "https://www.client-0001.example" if flood == "bot" else "https://evil.example"
            env = {**os.environ, "BENCH_ORIGIN": origin, "BENCH_AGENT": "agent_client_0001", "BENCH_MODE": flood}
            # Niced: the attacker is another machine, not a rival for this one's two cores (which
            # the proxy and the visitors' own client need); it still sends as fast as it is answered.
            done = subprocess.run(["nice", "-n", "19", "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "5s",
                                   "-s", str(LUA), f"http://127.0.0.1:{port}/api/create-web-call"],
                                  capture_output=True, text=True, env=env, timeout=seconds + 30, check=True)
            wrk = json.loads(next(line for line in reversed(done.stdout.splitlines()) if line.startswith("{")))
        else:
            stop.wait(seconds)  # the visitors' phase lasts this long
    finally:
        # A short (smoke) phase on a busy machine may end before a visitor's first answer: every
        # phase measures each visitor at least once.
        each_once.wait(15)
        stop.set()
        for thread in threads:
            thread.join(15)
    latencies = sorted(seconds * 1000 for seconds, _ in results)
    ok = sum(1 for _, status in results if status == 201)
    row = {
        "phase": name, "visitor_requests": len(results), "visitor_success": round(ok / len(results), 4) if results else None,
        "visitor_statuses": sorted({status for _, status in results}),
        "visitor_p50_ms": round(_percentile(latencies, 50), 2), "visitor_p99_ms": round(_percentile(latencies, 99), 2),
        "span": [started, time.time()],  # for the usage rows, counted once the proxy has stopped
        "siteverify_calls": httpx.get(f"http://127.0.0.1:{up_port}/stats", timeout=10).json()["siteverify"] - asked_before,
    }
    if wrk is not None:
        row |= {"flood_requests": wrk["requests"], "flood_rps": round(wrk["requests"] / (wrk["duration_us"] / 1e6), 1),
                "flood_p99_ms": round(wrk["p99_us"] / 1000, 2),
                "flood_errors": wrk["errors_connect"] + wrk["errors_read"] + wrk["errors_timeout"]}
    return row


def _percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def _rows(database: Path, span: list[float]) -> int:
    """Usage rows of attempts made within ``span`` (a tally is dated by its 5 seconds' start)."""
    if not database.exists():
        return 0
    with sqlite3.connect(database) as db:
        return db.execute("SELECT COUNT(*) FROM usage WHERE time >= %s AND time < %s".replace("%s", "?"),
                          (span[0] // 5 * 5, span[1])).fetchone()[0]


def run(seconds: float, visitors: int, interval: float, connections: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-abuse-") as tmp:
        folder = Path(tmp)
        database = folder / "usage.sqlite3"
        background: list[subprocess.Popen] = []
        try:
            up_port = start_upstream(API_KEY, background)
            port = common.free_port()
            env = {**os.environ, "RETELL_API_KEY": API_KEY, "RETELL_BASE_URL": f"http://127.0.0.1:{up_port}",
                   "PROXY_REGISTRY": str(_registry(folder)), "PROXY_USAGE_DB": str(database),
                   "PROXY_MANIFEST": str(folder / "manifest.json"), "PROXY_TURNSTILE_SECRET": SECRET,
                   "PROXY_TURNSTILE_VERIFY_URL": f"http://127.0.0.1:{up_port}/siteverify",
                   # The visitors all use one client's agent: its budget (120 a minute by default)
                   # is not what is measured here, so it is out of their way.
                   "PROXY_RATE_LIMIT_AGENT": "100000/minute"}
            background.append(subprocess.Popen([sys.executable, "-m", "proxy", "serve", "--port", str(port)],
                                               cwd=common.REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            common.wait_for_port(port, 30, background[-1])
            phases = []
            for name, flood in (("unloaded", None), ("bot flood", "bot"), ("origin flood", "origin")):
                phases.append(_phase(name, port, up_port, seconds, visitors, interval, flood, connections, database))
                last = phases[-1]
                print(f"  {name:<13} visitors {last['visitor_success']:.1%} ok, p99 {last['visitor_p99_ms']:.1f} ms"
                      + (f"; flood {last['flood_rps']:,.0f} req/s, siteverify {last['siteverify_calls']}"
                         if "flood_rps" in last else ""), flush=True)
        finally:
            for process in reversed(background):
                common.stop(process)  # the proxy writes its last tallies as it stops
        for phase in phases:
            phase["usage_rows_added"] = _rows(database, phase.pop("span"))
    unloaded = phases[0]["visitor_p99_ms"]
    for phase in phases:
        phase["p99_vs_unloaded"] = common.ratio(phase["visitor_p99_ms"], unloaded)
        phase["meets_goal"] = phase["visitor_success"] == 1.0 and (phase["p99_vs_unloaded"] or 0) <= GOAL_P99_RATIO
    return {"seconds": seconds, "visitors": visitors, "visitor_interval_s": interval, "connections": connections,
            "rows": phases, "goal": f"visitors 100% served, p99 at most {GOAL_P99_RATIO:g}x unloaded",
            "verdict": all(p["meets_goal"] for p in phases)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.abuse", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="2 s phases, 2 visitors, 8 flood connections")
    parser.add_argument("--duration", type=float, default=20, help="seconds per phase (default 20)")
    parser.add_argument("--visitors", type=int, default=16, help="visitor addresses (default 16)")
    parser.add_argument("--visitor-interval", type=float, default=4.5,
                        help="seconds between one visitor's creates (default 4.5: 13 a minute, well within its 20)")
    parser.add_argument("--connections", type=int, default=32, help="the flood's wrk connections (default 32)")
    parser.add_argument("--results", type=Path, help="folder for the JSON (default bench/results)")
    args = parser.parse_args(argv)
    info = common.machine()
    if args.smoke:
        data = run(2, 2, 0.5, 8)  # 2 s a phase: a flood past its IP's 20 bot checks a minute even on a busy machine
    else:
        data = run(args.duration, args.visitors, args.visitor_interval, args.connections)
    data["machine"] = common.finish_machine(info)
    path = common.write_results("abuse", data, args.smoke, args.results)
    print(f"abuse: one address floods python -m proxy serve (defaults: 20 attempts a minute per IP) while "
          f"{data['visitors']} visitor addresses create calls; {data['seconds']:g} s per phase")
    print(common.table(
        ["phase", "visitors ok", "visitor p50 ms", "visitor p99 ms", "p99 vs unloaded", "flood req/s", "siteverify calls",
         "usage rows added"],
        [(p["phase"], f"{p['visitor_success']:.1%}", p["visitor_p50_ms"], p["visitor_p99_ms"], p["p99_vs_unloaded"],
          p.get("flood_rps"), p["siteverify_calls"], p["usage_rows_added"]) for p in data["rows"]]))
    print(f"goal: {data['goal']}: {'met' if data['verdict'] else 'not met'}")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
