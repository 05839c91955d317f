"""A fast stand-in for Retell's ``POST /v2/create-web-call``, for the proxy benchmark.

Both proxies call the same one, so its own cost is the same on both sides. It checks the bearer
key and the JSON body and answers 201 as Retell does; unlike harness/fake_retell.py it records
nothing, so it stays fast and flat however long a run lasts. ``python -m bench.upstream --port N``.
For ``bench.abuse`` it is also a bot check provider that refuses every token (``/siteverify``,
counted at ``/stats``).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json


def make_app(api_key: str):  # -> aiohttp.web.Application
    from aiohttp import web

    expected = f"Bearer {api_key}"
    numbers = itertools.count(1)

    async def create_web_call(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != expected:
            return web.json_response({"error_message": "Unauthorized"}, status=401)
        try:
            agent_id = json.loads(await request.read())["agent_id"]
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error_message": "agent_id is required"}, status=400)
        n = next(numbers)
        return web.json_response({"call_type": "web_call", "access_token": f"eyBench.{n:016x}",
                                  "call_id": f"call_{n:024x}", "agent_id": agent_id,
                                  "call_status": "registered"}, status=201)

    verifications = itertools.count(1)
    asked = [0]

    async def siteverify(request: web.Request) -> web.Response:
        # A bot check provider that finds every token bogus, after a provider's round trip.
        asked[0] = next(verifications)
        await asyncio.sleep(0.02)
        return web.json_response({"success": False, "error-codes": ["invalid-input-response"]})

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"siteverify": asked[0]})

    app = web.Application()
    app.router.add_post("/v2/create-web-call", create_web_call)
    app.router.add_post("/siteverify", siteverify)  # for bench.abuse
    app.router.add_get("/stats", stats)
    return app


def start(api_key: str, background: list) -> int:
    """``python -m bench.upstream`` in its own process, appended to ``background`` (the caller
    stops it); returns its port once it listens."""
    import subprocess
    import sys

    from bench import common

    port = common.free_port()
    background.append(subprocess.Popen([sys.executable, "-m", "bench.upstream", "--port", str(port), "--key", api_key],
                                       cwd=common.REPO))
    common.wait_for_port(port, 30, background[-1])
    return port


def main(argv: list[str] | None = None) -> int:
    from aiohttp import web

    parser = argparse.ArgumentParser(prog="python -m bench.upstream", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--key", required=True, help="the API key callers must send as a bearer token")
    args = parser.parse_args(argv)
    web.run_app(make_app(args.key), host="127.0.0.1", port=args.port, access_log=None, print=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
