"""Proxy benchmark: our proxy against the deployment guide's Express proxy, under wrk.

``python -m bench.proxy`` starts one fast fake Retell upstream (bench/upstream.py), then, in
turn, each proxy in front of it, and drives ``POST /api/create-web-call`` with wrk
(bench/wrk/create.lua: a registered client page's Origin and agent, so every request is a
successful create that reaches the upstream). Rounds alternate the proxies, so a change in the
machine's load hits every row alike. Rows:

- Express as the guide writes it (bench/express/server.js; one Node process), the peer;
- ours as documented for production, ``python -m proxy serve`` (uvicorn, one process): the
  headline, with the documented defaults (SQLite usage recording on, JSON logs at INFO);
- ours with usage recording off, like for like with Express, which records nothing;
- ours with the Redis limiter (a redis-server this command starts on a free port);
- ours with N worker processes sharing the port (``python -m proxy serve --workers N``; each keeps
  its own in-memory rate-limit budget).

Rate limits are set far above what a run can reach, on both sides, so none triggers. All
traffic stays on 127.0.0.1 and every run is bounded by ``--duration``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bench import common
from bench.upstream import start as start_upstream
from bench.gen_site import clients_text

HERE = Path(__file__).resolve().parent
EXPRESS = HERE / "express"
LUA = HERE / "wrk" / "create.lua"
API_KEY = "key_bench_0123456789abcdef"
CLIENT = 500  # the client whose page sends every request: mid-registry, for both allowlists
TARGET = "ours (1 process) >= 2x Express's requests/s, with a lower p99"
# Issue 13: every budget of a create decided in one Redis round trip, so sharing budgets between
# instances costs little: the Redis row's requests/s at least 0.9x the in-memory row's.
REDIS_TARGET = 0.9


@dataclass
class Setup:
    name: str
    label: str
    command: list[str]
    env: dict[str, str]
    cwd: Path = common.REPO
    runs: list[dict] = field(default_factory=list)


def express_ready() -> str | None:
    """Why the Express row cannot run, or None when it can."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (EXPRESS / "node_modules" / "express-rate-limit").is_dir():
        return "bench/express/node_modules is missing (python -m bench.proxy runs npm ci there)"
    return None


def npm_install() -> None:
    if express_ready() is not None and shutil.which("npm") is not None:
        print("installing bench/express/node_modules with npm ci ...", flush=True)
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=EXPRESS, check=True)


def _registry(folder: Path, clients: int) -> tuple[Path, Path]:
    """The same registry for both proxies: TOML for ours, JSON of exact origins for Express."""
    toml = folder / "clients.toml"
    toml.write_text(clients_text(clients, ["1.0.0"]), encoding="utf-8")
    import registry

    loaded = registry.load(toml)
    data = {"clients": [{"origins": [f"https://www.{c.id}.example"], "agents": list(c.agents)} for c in loaded.clients]}
    json_path = folder / "clients.json"
    json_path.write_text(json.dumps(data), encoding="utf-8")
    return toml, json_path


def _setups(folder: Path, upstream: str, toml: Path, json_path: Path, redis_url: str | None,
            workers: int, express: bool) -> list[Setup]:
    ours_env = {
        "RETELL_API_KEY": API_KEY, "RETELL_BASE_URL": upstream, "PROXY_REGISTRY": str(toml),
        # Far above what a run reaches (a few thousand per second at most), so none triggers.
        "PROXY_RATE_LIMIT_IP": "1000000/minute", "PROXY_RATE_LIMIT_AGENT": "1000000/minute",
        "PROXY_USAGE_DB": str(folder / "usage.sqlite3"), "PROXY_MANIFEST": str(folder / "manifest.json"),
    }
    serve = [sys.executable, "-m", "proxy", "serve", "--port", "{port}"]
    setups = []
    if express:
        setups.append(Setup("express", "Express (guide), 1 process", ["node", str(EXPRESS / "server.js")], {
            "PORT": "{port}", "RETELL_API_KEY": API_KEY, "RETELL_BASE_URL": upstream,
            "REGISTRY_JSON": str(json_path), "RATE_LIMIT": "1000000000"}, EXPRESS))
    setups.append(Setup("ours", "ours, python -m proxy serve (1 process, defaults)", serve, ours_env))
    setups.append(Setup("ours_no_usage", "ours, 1 process, usage recording off", serve,
                        ours_env | {"PROXY_USAGE_DB": "off"}))
    if redis_url:
        setups.append(Setup("ours_redis", "ours, 1 process, Redis limiter", serve,
                            ours_env | {"PROXY_RATE_LIMIT_STORAGE": redis_url,
                                        "PROXY_USAGE_DB": str(folder / "usage-redis.sqlite3")}))
    if workers > 1:
        setups.append(Setup(f"ours_{workers}_workers", f"ours, python -m proxy serve --workers {workers}",
                            [*serve, "--workers", str(workers)],
                            ours_env | {"PROXY_USAGE_DB": str(folder / "usage-workers.sqlite3")}))
    return setups


def _start(setup: Setup, port: int) -> subprocess.Popen:
    fill = lambda text: text.replace("{port}", str(port))  # noqa: E731
    env = {**os.environ, **{k: fill(v) for k, v in setup.env.items()}}
    process = subprocess.Popen([fill(part) for part in setup.command], cwd=setup.cwd, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    common.wait_for_port(port, 30, process)
    return process


def _check_once(port: int, origin: str, agent: str) -> None:
    """One request by hand: the proxy must answer a create with a token before we load it."""
    import httpx

    response = httpx.post(f"http://127.0.0.1:{port}/api/create-web-call", json={"agent_id": agent},
                          headers={"Origin": origin}, timeout=10)
    if response.status_code not in (200, 201) or "access_token" not in response.json():
        raise RuntimeError(f"port {port}: the proxy answered {response.status_code} {response.text[:200]}")


def _wrk(port: int, seconds: float, connections: int, threads: int, origin: str, agent: str,
         path: str = "/api/create-web-call", auth: str | None = None) -> dict:
    env = {**os.environ, "BENCH_ORIGIN": origin, "BENCH_AGENT": agent, **({"BENCH_AUTH": auth} if auth else {})}
    result = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "5s",
         "-s", str(LUA), f"http://127.0.0.1:{port}{path}"],
        capture_output=True, text=True, env=env, timeout=seconds + 30, check=True)
    line = next(line for line in reversed(result.stdout.splitlines()) if line.startswith("{"))
    data = json.loads(line)
    data["rps"] = round(data["requests"] / (data["duration_us"] / 1e6), 1)
    data["errors"] = sum(v for k, v in data.items() if k.startswith("errors_"))
    return data


def run(runs: int, seconds: float, warmup: float, connections: int, threads: int, workers: int,
        clients: int, express: bool, redis: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-proxy-") as tmp:
        folder = Path(tmp)
        toml, json_path = _registry(folder, clients)
        origin, agent = f"https://www.client-{min(CLIENT, clients):04d}.example", f"agent_client_{min(CLIENT, clients):04d}"
        background: list[subprocess.Popen] = []
        try:
            up_port = start_upstream(API_KEY, background)
            redis_url = None
            if redis:
                redis_port = common.free_port()
                background.append(subprocess.Popen(
                    ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                     "--appendonly", "no", "--loglevel", "warning"], stdout=subprocess.DEVNULL))
                common.wait_for_port(redis_port, 30, background[-1])
                redis_url = f"redis://127.0.0.1:{redis_port}/0"
            setups = _setups(folder, f"http://127.0.0.1:{up_port}", toml, json_path, redis_url, workers, express)
            upstream = Setup("upstream", "fake upstream alone, no proxy (the ceiling)", [], {})
            for round_number in range(runs):
                # The upstream on its own, so the table shows how close each proxy gets to it.
                upstream.runs.append(_wrk(up_port, seconds, connections, threads, origin, agent,
                                          "/v2/create-web-call", f"Bearer {API_KEY}"))
                for setup in setups:
                    port = common.free_port()
                    process = _start(setup, port)
                    try:
                        _check_once(port, origin, agent)
                        if warmup:
                            _wrk(port, warmup, connections, threads, origin, agent)
                        setup.runs.append(_wrk(port, seconds, connections, threads, origin, agent))
                    finally:
                        common.stop(process)
                    last = setup.runs[-1]
                    print(f"  round {round_number + 1}/{runs} {setup.name:<16} {last['rps']:>9,.0f} req/s  "
                          f"p50 {last['p50_us'] / 1000:.2f} ms  p99 {last['p99_us'] / 1000:.2f} ms  "
                          f"errors {last['errors']}", flush=True)
        finally:
            for process in reversed(background):
                common.stop(process)
    return _summarise([*setups, upstream], runs, seconds, connections, threads, workers, clients)


def _summarise(setups: list[Setup], runs: int, seconds: float, connections: int, threads: int,
               workers: int, clients: int) -> dict:
    rows = []
    for setup in setups:
        rows.append({
            "case": setup.name, "label": setup.label,
            "rps": round(common.median([r["rps"] for r in setup.runs]), 1),
            "p50_ms": round(common.median([r["p50_us"] for r in setup.runs]) / 1000, 3),
            "p99_ms": round(common.median([r["p99_us"] for r in setup.runs]) / 1000, 3),
            "errors": sum(r["errors"] for r in setup.runs),
            "runs": setup.runs,
        })
    peer = next((r for r in rows if r["case"] == "express"), None)
    for row in rows:
        row["rps_vs_express"] = common.ratio(row["rps"], peer["rps"]) if peer else None
        row["p99_vs_express"] = common.ratio(row["p99_ms"], peer["p99_ms"]) if peer else None
        # The target, row by row for our setups: twice Express's requests/s with a lower p99.
        row["meets_target"] = (row["rps"] >= 2 * peer["rps"] and row["p99_ms"] < peer["p99_ms"]
                               if peer and row["case"].startswith("ours") else None)
    ours = next(r for r in rows if r["case"] == "ours")
    redis_row = next((r for r in rows if r["case"] == "ours_redis"), None)
    redis_vs_memory = None
    if redis_row is not None:
        # Round by round (each round runs both, one after the other), then the median: a change in
        # the machine's load between rounds hits both sides of each ratio alike.
        paired = [r["rps"] / m["rps"] for r, m in zip(redis_row["runs"], ours["runs"], strict=True) if m["rps"]]
        ratio = round(common.median(paired), 3) if paired else None
        redis_vs_memory = {"ratio": ratio, "per_round": [round(x, 3) for x in paired], "target": REDIS_TARGET,
                           "met": ratio is not None and ratio >= REDIS_TARGET}
    return {
        "load": {"tool": _wrk_version(), "connections": connections, "threads": threads, "seconds": seconds,
                 "runs": runs, "clients_in_registry": clients, "workers_row": workers},
        "versions": _versions(),
        "rows": rows,
        "target": TARGET,
        "verdict": ours["meets_target"],
        "redis_vs_memory": redis_vs_memory,
    }


def _wrk_version() -> str:
    out = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0].split(" Copyright")[0].strip() if text else "wrk"


def _versions() -> dict:
    from importlib import metadata

    found = {name: metadata.version(name) for name in ("uvicorn", "starlette", "httpx-aiohttp", "limits")}
    if shutil.which("node"):
        found["node"] = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    lock = EXPRESS / "package-lock.json"
    if lock.is_file():
        packages = json.loads(lock.read_text())["packages"]
        for name in ("express", "cors", "express-rate-limit"):
            found[name] = packages.get(f"node_modules/{name}", {}).get("version")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.proxy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="one short round: checks the tooling in seconds")
    parser.add_argument("--runs", type=int, default=5, help="rounds; each runs every proxy once (default 5)")
    parser.add_argument("--duration", type=float, default=8, help="seconds of load per run (default 8)")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of unmeasured load before each run (default 2)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1: the machine may have 2 cores)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes for the extra row (serve --workers N); 1 drops it (default 2)")
    parser.add_argument("--clients", type=int, default=1000, help="clients in the registry (default 1000)")
    parser.add_argument("--no-express", action="store_true", help="skip the Express peer")
    parser.add_argument("--no-redis", action="store_true", help="skip the Redis limiter row")
    parser.add_argument("--results", type=Path, help="folder for the JSON (default bench/results)")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("error: wrk is not installed (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    express = not args.no_express
    if express:
        npm_install()
        if reason := express_ready():
            print(f"error: {reason}; pass --no-express to run without the peer", file=sys.stderr)
            return 2
    redis = not args.no_redis and shutil.which("redis-server") is not None
    if args.smoke:
        # One short round; the extra workers row is left out (starting N workers is the slow part).
        args.runs, args.duration, args.warmup, args.clients, args.workers = 1, 1, 0, 10, 1
    info = common.machine()
    data = run(args.runs, args.duration, args.warmup, args.connections, args.threads, args.workers,
               args.clients, express, redis)
    data["machine"] = common.finish_machine(info)
    path = common.write_results("proxy", data, args.smoke, args.results)
    print(f"proxy: wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s, median of {args.runs} runs; "
          f"{args.clients} clients in the registry")
    met = {True: "met", False: "not met", None: ""}
    print(common.table(["setup", "req/s", "p50 ms", "p99 ms", "req/s vs Express", "p99 vs Express", "errors", "target"],
                       [(r["label"], r["rps"], r["p50_ms"], r["p99_ms"], r["rps_vs_express"], r["p99_vs_express"],
                         r["errors"], met[r["meets_target"]]) for r in data["rows"]]))
    verdict = data["verdict"]
    print(f"target: {TARGET}: {'met' if verdict else 'not met' if verdict is not None else 'n/a (no Express)'}")
    shared = data["redis_vs_memory"]
    if shared is not None:
        print(f"target: the Redis limiter's requests/s >= {REDIS_TARGET}x in memory's: {shared['ratio']}x "
              f"(median of rounds {shared['per_round']}): {'met' if shared['met'] else 'not met'}")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
