"""How fast can the proxy call Retell? httpx's own transport against httpx-aiohttp's.

A local upstream (uvicorn in its own process, answering like Retell's create-web-call) takes a
fixed number of POSTs from 32 concurrent tasks through one pooled ``httpx.AsyncClient`` per
transport; rounds alternate between transports so machine noise hits both alike.

    python -m bench.proxy_transport [--requests 2000] [--concurrency 32] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import statistics
import sys
import time

import httpx

_ANSWER = json.dumps({"call_type": "web_call", "access_token": "eyFake." + "x" * 32, "call_id": "call_" + "0" * 24,
                      "agent_id": "agent_bench", "call_status": "registered"}).encode()


def _upstream(sock: socket.socket) -> None:
    import uvicorn

    async def app(scope, receive, send):  # the smallest ASGI app, so the client side dominates
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 201,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(_ANSWER)).encode())]})
        await send({"type": "http.response.body", "body": _ANSWER})

    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])


def _transport(name: str) -> httpx.AsyncBaseTransport:
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=32)
    if name == "aiohttp":
        from httpx_aiohttp import AiohttpTransport

        return AiohttpTransport(limits=limits)
    return httpx.AsyncHTTPTransport(limits=limits)


async def _round(name: str, url: str, requests: int, concurrency: int) -> dict:
    latencies: list[float] = []
    failures = 0
    todo = iter(range(requests))
    async with httpx.AsyncClient(base_url=url, transport=_transport(name), timeout=10,
                                 headers={"Authorization": "Bearer key_bench"}) as client:
        await client.post("/v2/create-web-call", json={"agent_id": "agent_bench"})  # warm one connection

        async def worker() -> None:
            nonlocal failures
            for _ in todo:
                started = time.perf_counter()
                response = await client.post("/v2/create-web-call", json={"agent_id": "agent_bench"})
                response.json()
                latencies.append(time.perf_counter() - started)
                failures += response.status_code != 201

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "transport": name,
        "requests": requests,
        "failures": failures,
        "rps": round(requests / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.proxy_transport", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="requests per round (default 2000)")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent tasks (default 32)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per transport (default 3)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    if not 1 <= args.requests <= 100_000 or not 1 <= args.concurrency <= 256 or not 1 <= args.rounds <= 20:
        parser.error("keep it bounded: requests 1-100000, concurrency 1-256, rounds 1-20")

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = multiprocessing.get_context("spawn").Process(target=_upstream, args=(sock,), daemon=True)
    server.start()
    results = []
    try:
        for _ in range(args.rounds):
            for name in ("httpx", "aiohttp"):
                results.append(asyncio.run(_round(name, url, args.requests, args.concurrency)))
    finally:
        server.terminate()
        server.join(10)
        sock.close()
    summary = {
        name: {
            "median_rps": statistics.median(r["rps"] for r in results if r["transport"] == name),
            "median_p99_ms": statistics.median(r["p99_ms"] for r in results if r["transport"] == name),
        }
        for name in ("httpx", "aiohttp")
    }
    report = {"concurrency": args.concurrency, "load": [round(x, 2) for x in os.getloadavg()], "nproc": os.cpu_count(),
              "rounds": results, "summary": summary}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for r in results:
            print(f"{r['transport']:<8} {r['rps']:>9} req/s  p50 {r['p50_ms']:>7} ms  p99 {r['p99_ms']:>7} ms  failures {r['failures']}")
        ratio = summary["aiohttp"]["median_rps"] / summary["httpx"]["median_rps"]
        print(f"median: httpx {summary['httpx']['median_rps']} req/s, aiohttp {summary['aiohttp']['median_rps']} req/s "
              f"({ratio:.1f}x); load {report['load']} on {report['nproc']} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
