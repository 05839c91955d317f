"""``python -m bench.webserver``: nginx serving the published CDN against our dev server, under wrk.

A sanity figure, not a contest: ``python -m builder serve`` is never the production server. Both
serve the same sources' widget entry (``/cdn/latest/retell-widget.js``) to a client that accepts
``br, gzip``; the table says requests/s and which encoding each answered with (and so how many
bytes went over the wire per request). nginx runs with the configuration ``publish`` writes,
one worker (the machine may have two cores, and wrk needs one).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from bench import common
from harness import webservers

PATH = "/cdn/latest/retell-widget.js"
ACCEPT = "br, gzip"


def _wrk(url: str, seconds: float, connections: int) -> float:
    done = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "-H", f"Accept-Encoding: {ACCEPT}", url],
                          capture_output=True, text=True, check=True)
    return float(re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)[1])


def _measure(case: str, base: str, seconds: float, connections: int) -> dict:
    with httpx.stream("GET", base + PATH, headers={"Accept-Encoding": ACCEPT}) as response:
        response.raise_for_status()
        sent = b"".join(response.iter_raw())  # as sent: httpx would decode it
    return {"case": case, "rps": round(_wrk(base + PATH, seconds, connections), 1),
            "encoding": response.headers.get("content-encoding", "identity"), "wire_bytes": len(sent),
            "vary": response.headers.get("vary")}


def _dev_server(folder: Path) -> subprocess.Popen:
    port = common.free_port()
    process = subprocess.Popen([sys.executable, "-m", "builder", "serve", "--port", str(port)], cwd=common.REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("serving "):
            process.port = port  # type: ignore[attr-defined]
            return process
    raise RuntimeError("python -m builder serve did not start")


def run(seconds: float, connections: int) -> list[dict]:
    from builder.__main__ import main as builder

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-webserver-") as temporary:
        work = Path(temporary)
        builder(["build", "--src", str(common.REPO / "site_src"), "--widget", str(common.REPO / "widget"),
                 "--out", str(work / "dist")])
        builder(["publish", "--from", str(work / "dist"), "--to", str(work / "www")])
        with webservers.nginx(work / "www", work / "nginx") as base:
            rows.append(_measure("nginx (publish's nginx.conf)", base, seconds, connections))
        with webservers.caddy(work / "www", work / "caddy") as base:
            rows.append(_measure("caddy (publish's Caddyfile)", base, seconds, connections))
        dev = _dev_server(work)
        try:
            rows.append(_measure("python -m builder serve", f"http://127.0.0.1:{dev.port}", seconds, connections))  # type: ignore[attr-defined]
        finally:
            common.stop(dev)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.webserver", description=__doc__)
    parser.add_argument("--duration", type=float, default=5, help="seconds of wrk per server (default 5)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--smoke", action="store_true", help="1 s per server, results to <name>.smoke.json")
    parser.add_argument("--results", type=Path, default=None, help="folder for the JSON (default bench/results)")
    args = parser.parse_args(argv)
    info = common.machine()
    rows = run(1 if args.smoke else args.duration, args.connections)
    print(f"webserver: GET {PATH} with Accept-Encoding: {ACCEPT}, wrk -t1 -c{args.connections}")
    print(common.table(["server", "requests/s", "encoding", "bytes", "vary"],
                       [[r["case"], r["rps"], r["encoding"], r["wire_bytes"], r["vary"] or "-"] for r in rows]))
    path = common.write_results("webserver", {"machine": common.finish_machine(info), "path": PATH, "accept": ACCEPT,
                                              "connections": args.connections, "rows": rows}, args.smoke, args.results)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
