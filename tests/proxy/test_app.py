from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from serving import bind
from tests.proxy.conftest import API_KEY

SHOP = "https://shop.example"
ENDPOINT = "/api/create-web-call"


def create(client, origin=SHOP, body=None, **headers):
    headers = {"Origin": origin, **headers} if origin is not None else headers
    return client.post(ENDPOINT, json={"agent_id": "agent_shop"} if body is None else body, headers=headers)


def test_mints_a_token_for_a_registered_origin(shared_proxy, fake_retell):
    response = create(shared_proxy)
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"access_token", "call_id"}
    assert body["call_id"] in fake_retell[0].calls
    assert response.headers["access-control-allow-origin"] == SHOP
    assert response.headers["vary"] == "Origin"
    assert response.headers["cache-control"] == "no-store"


def test_subdomain_pattern_and_local_origin(shared_proxy, fake_retell):
    assert create(shared_proxy, "https://www.shop.example").status_code == 201
    assert create(shared_proxy, "http://localhost:3000").status_code == 201


def test_preflight_allows_only_post_with_content_type(shared_proxy):
    ok = shared_proxy.options(ENDPOINT, headers={"Origin": SHOP, "Access-Control-Request-Method": "POST",
                                          "Access-Control-Request-Headers": "content-type"})
    assert ok.status_code == 204
    assert ok.headers["access-control-allow-origin"] == SHOP
    assert ok.headers["access-control-allow-methods"] == "POST"
    assert ok.headers["access-control-allow-headers"] == "Content-Type"
    assert int(ok.headers["access-control-max-age"]) > 0
    for method, extra in [("DELETE", "content-type"), ("POST", "content-type, authorization")]:
        refused = shared_proxy.options(ENDPOINT, headers={"Origin": SHOP, "Access-Control-Request-Method": method,
                                                   "Access-Control-Request-Headers": extra})
        assert refused.status_code == 403
        assert "allowed" in refused.json()["message"]


@pytest.mark.parametrize("origin", [
    "https://evil-localhost.com",       # the deployment guide's includes('localhost') hole
    "http://localhost:3001",            # port swap
    "http://shop.example",              # scheme swap
    "https://shop.example.evil.com",    # suffix
    "https://evilshop.example",         # prefix
    "https://shop.example:8443",        # port added
    "https://shop.examp1e",             # lookalike
    "https://SHOP.example",             # case games
    "null",                             # sandboxed iframes and file:// pages
    "https://shop.example/",            # not an origin
    "",
])
def test_refuses_unregistered_origins_without_calling_retell(shared_proxy, fake_retell, origin):
    for response in (create(shared_proxy, origin), shared_proxy.options(ENDPOINT, headers={"Origin": origin, "Access-Control-Request-Method": "POST"})):
        assert response.status_code == 403
        assert response.json()["error"] == "origin_not_allowed"
        assert "access-control-allow-origin" not in response.headers
        assert response.headers["vary"] == "Origin"
    assert fake_retell[0].requests == []


def test_refuses_requests_without_origin_or_with_two(shared_proxy, fake_retell):
    assert create(shared_proxy, origin=None).status_code == 403
    two = shared_proxy.post(ENDPOINT, json={"agent_id": "agent_shop"}, headers=[("Origin", SHOP), ("Origin", "https://bolt.example")])
    assert two.status_code == 403
    assert fake_retell[0].requests == []


def test_agent_works_only_from_its_own_clients_origins(shared_proxy, fake_retell):
    other = create(shared_proxy, SHOP, {"agent_id": "agent_bolt"})
    unknown = create(shared_proxy, SHOP, {"agent_id": "agent_nobody"})
    assert other.status_code == unknown.status_code == 403
    # The same answer either way, so agent ids cannot be probed.
    assert other.json() == unknown.json() == {"error": "agent_not_allowed", "message": "this agent is not available on this website"}
    assert other.headers["access-control-allow-origin"] == SHOP
    assert fake_retell[0].requests == []


@pytest.mark.parametrize("content, content_type, status, code", [
    (b'{"agent_id": "agent_shop"}', "text/plain", 415, "unsupported_media_type"),
    (b"agent_id=agent_shop", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    (b'{"agent_id": ', "application/json", 400, "invalid_json"),
    (b"\xff\xfe", "application/json", 400, "invalid_json"),
    (b'["agent_shop"]', "application/json", 400, "invalid_body"),
    (b'{"agent_id": 7}', "application/json", 400, "invalid_agent_id"),
    (b'{"agent_id": "../admin"}', "application/json", 400, "invalid_agent_id"),
    (b'{"__proto__": {"admin": true}}', "application/json", 400, "invalid_agent_id"),
    (json.dumps({"agent_id": "agent_shop", "pad": "x" * 9000}).encode(), "application/json", 413, "body_too_large"),
])
def test_rejects_bad_bodies_with_a_clear_message(shared_proxy, fake_retell, content, content_type, status, code):
    response = shared_proxy.post(ENDPOINT, content=content, headers={"Origin": SHOP, "Content-Type": content_type})
    assert response.status_code == status
    assert response.json()["error"] == code and response.json()["message"]
    assert fake_retell[0].requests == []


def test_other_methods_are_not_allowed(shared_proxy):
    assert shared_proxy.get(ENDPOINT, headers={"Origin": SHOP}).status_code == 405


def test_health(shared_proxy):
    response = shared_proxy.get("/api/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert response.headers["vary"] == "Origin"


def test_a_wrong_api_key_is_a_502_and_an_operator_log_without_the_key(proxy_factory, fake_retell, caplog):
    proxy = proxy_factory(fake_retell[1], api_key="key_wrong_secret_value")
    with caplog.at_level(logging.INFO):
        response = create(proxy)
    assert response.status_code == 502 and response.json()["error"] == "upstream_rejected"
    assert "check RETELL_API_KEY" in caplog.text
    assert "key_wrong_secret_value" not in caplog.text + response.text
    assert API_KEY not in caplog.text


class StubUpstream:
    """An upstream that answers what a test asks for, or holds the request until released."""

    def __init__(self) -> None:
        self.answer: Response = JSONResponse({})
        self.hold = False
        self.release = threading.Event()  # set from the test's thread
        self.seen = 0

    def app(self) -> Starlette:
        async def endpoint(request: Request) -> Response:
            self.seen += 1
            if self.hold:
                await asyncio.to_thread(self.release.wait, 10)
            return self.answer

        return Starlette(routes=[Route("/v2/create-web-call", endpoint, methods=["POST"])])


@pytest.mark.parametrize("answer, status, code, retry_after", [
    (JSONResponse({"error_message": "busy"}, 429, {"Retry-After": "7"}), 503, "upstream_busy", "7"),
    (JSONResponse({"error_message": "boom"}, 500), 502, "upstream_error", None),
    (JSONResponse({"error_message": "no"}, 404), 502, "upstream_rejected", None),
    (PlainTextResponse("<html>gateway</html>", 201), 502, "upstream_invalid", None),
    (JSONResponse({"call_id": "call_1"}, 201), 502, "upstream_invalid", None),
    (JSONResponse({"access_token": 5, "call_id": "c"}, 201), 502, "upstream_invalid", None),
    (JSONResponse({"error_message": "unavailable"}, 503), 502, "upstream_error", None),
    (JSONResponse({"error_message": "bad gateway"}, 502), 502, "upstream_error", None),
    (JSONResponse({"error_message": "unauthorised"}, 401), 502, "upstream_rejected", None),
    (JSONResponse({"error_message": "Trial has ended, please add payment method."}, 402), 502, "upstream_payment_required", None),
    (JSONResponse({"error_message": "Cannot find requested asset under given api key."}, 422), 502, "upstream_rejected", None),
    (JSONResponse({"error_message": "busy"}, 429, {"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}), 503, "upstream_busy", "5"),
    (JSONResponse({"error_message": "busy"}, 429, {"Retry-After": "999999"}), 503, "upstream_busy", "5"),
    (JSONResponse({"error_message": "busy"}, 429), 503, "upstream_busy", "5"),
    (JSONResponse(["access_token"], 201), 502, "upstream_invalid", None),
    (JSONResponse({"access_token": "", "call_id": "c"}, 201), 502, "upstream_invalid", None),
    (Response(b"\xff\xfe", 201, media_type="application/json"), 502, "upstream_invalid", None),
    (Response(status_code=204), 502, "upstream_invalid", None),
    (JSONResponse({"access_token": "t"}, 302, {"Location": "https://evil.example/"}), 502, "upstream_error", None),
])
def test_maps_upstream_failures(serve_upstream, proxy_factory, answer, status, code, retry_after):
    stub = StubUpstream()
    stub.answer = answer
    with serve_upstream(stub.app()) as url:
        response = create(proxy_factory(url))
    assert stub.seen == 1  # never retried
    assert response.status_code == status
    assert response.json()["error"] == code
    assert response.headers.get("retry-after") == retry_after
    assert "Retry-After" in response.headers["access-control-expose-headers"].split(", ")
    assert response.headers["access-control-allow-origin"] == SHOP


@pytest.mark.parametrize("status, logged", [
    (401, "check RETELL_API_KEY"),
    (402, "no valid payment method or is out of credit"),
    (404, "retell does not know agent agent_shop"),
    (422, "retell does not know agent agent_shop"),
    (429, "concurrency limit"),
])
def test_retells_refusals_tell_the_operator_what_to_fix_and_the_visitor_nothing_of_it(serve_upstream, proxy_factory, caplog, status, logged):
    stub = StubUpstream()
    stub.answer = JSONResponse({"error_message": f"retell says {status}\n\x1b[31m"}, status)
    with serve_upstream(stub.app()) as url, caplog.at_level(logging.INFO, logger="proxy.upstream"):
        response = create(proxy_factory(url))
    line = next(r.getMessage() for r in caplog.records if r.name == "proxy.upstream")
    assert logged in line and f"retell says {status}" in line and "\x1b" not in line  # Retell's words, printable only
    assert "retell says" not in response.text and response.json()["message"].startswith("The voice service")


def test_the_create_path_is_a_setting(serve_upstream, proxy_factory):
    seen: list[str] = []

    async def endpoint(request: Request) -> Response:
        seen.append(request.url.path)
        return JSONResponse({"access_token": "t", "call_id": "call_1"}, 201)

    app = Starlette(routes=[Route("/v9/create-web-call", endpoint, methods=["POST"])])
    with serve_upstream(app) as url:
        response = create(proxy_factory(url, retell_create_path="/v9/create-web-call"))
    assert response.status_code == 201 and seen == ["/v9/create-web-call"]


def test_an_upstream_timeout_is_a_504(serve_upstream, proxy_factory):
    stub = StubUpstream()
    stub.hold = True
    with serve_upstream(stub.app()) as url:
        try:
            response = create(proxy_factory(url, timeout=0.3))
        finally:
            stub.release.set()  # let the held request finish so the stub can stop
    assert response.status_code == 504 and response.json()["error"] == "upstream_timeout"


def test_an_unreachable_upstream_is_a_502(proxy_factory):
    sock = bind()
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    response = create(proxy_factory(f"http://127.0.0.1:{port}"))
    assert response.status_code == 502 and response.json()["error"] == "upstream_unavailable"


def test_an_upstream_that_trickles_is_cut_off_by_the_total_timeout(serve_upstream, proxy_factory):
    async def trickle():
        yield b'{"access_token": "'
        for _ in range(50):
            await asyncio.sleep(0.1)  # the fault under test: a slow upstream, not synchronisation
            yield b"x"
        yield b'", "call_id": "c"}'

    app = Starlette(routes=[Route("/v2/create-web-call", lambda r: StreamingResponse(trickle(), 201), methods=["POST"])])
    with serve_upstream(app) as url:
        response = create(proxy_factory(url, timeout=0.5))
    assert response.status_code == 504 and response.json()["error"] == "upstream_timeout"


def test_an_upstream_that_drops_the_connection_is_a_502_and_not_retried(proxy_factory):
    seen = []

    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.read(65536))
        writer.transport.abort()  # reset, no answer at all

    ready = threading.Event()
    ports: list[int] = []
    stop = threading.Event()

    async def serve() -> None:
        server = await asyncio.start_server(drop, "127.0.0.1", 0)
        ports.append(server.sockets[0].getsockname()[1])
        ready.set()
        async with server:
            await asyncio.to_thread(stop.wait)

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        response = create(proxy_factory(f"http://127.0.0.1:{ports[0]}"))
    finally:
        stop.set()
        thread.join(10)
    assert response.status_code == 502 and response.json()["error"] == "upstream_unavailable"
    assert len(seen) == 1


def test_upstream_latency_is_labelled_by_result(serve_upstream, proxy_factory):
    stub = StubUpstream()
    stub.hold = True
    with serve_upstream(stub.app()) as url:
        proxy = proxy_factory(url, timeout=0.3)
        try:
            create(proxy)
        finally:
            stub.release.set()
        metrics = proxy.get("/metrics").text
    assert 'proxy_upstream_seconds_count{result="upstream_timeout"} 1.0' in metrics


def test_an_oversized_upstream_answer_is_cut_off_and_refused(serve_upstream, proxy_factory, caplog):
    """A 40 MB answer once took the proxy to 183 MB: it reads 64 KiB of an answer at most."""
    sent = [0]

    async def endpoint(request: Request) -> Response:
        async def flood():
            for _ in range(640):  # 40 MiB in 64 KiB pieces
                sent[0] += 65536
                yield b"x" * 65536

        return StreamingResponse(flood(), status_code=201, media_type="application/json")

    app = Starlette(routes=[Route("/v2/create-web-call", endpoint, methods=["POST"])])
    with serve_upstream(app) as url, caplog.at_level(logging.ERROR, logger="proxy.upstream"):
        proxy = proxy_factory(url)
        tracemalloc.start()
        try:
            response = create(proxy)
            _, peak = tracemalloc.get_traced_memory()  # this process holds the proxy, its client and the stub
        finally:
            tracemalloc.stop()
    assert response.status_code == 502 and response.json()["error"] == "upstream_invalid"
    assert "over 65536 bytes" in caplog.text
    assert peak < 8 * 1024 * 1024, f"{peak / 2**20:.1f} MiB held while a 40 MiB answer came in"


def test_readiness_asks_retell_at_most_once_in_a_while(serve_upstream, proxy_factory):
    """A flood of /api/ready once made one upstream GET per request."""
    seen = [0]

    async def root(request: Request) -> Response:
        seen[0] += 1
        await asyncio.sleep(0.05)  # a round trip's worth: concurrent probes overlap
        return PlainTextResponse("retell")

    app = Starlette(routes=[Route("/", root, methods=["GET"])])
    with serve_upstream(app) as url:
        proxy = proxy_factory(url)

        def ready(_: int) -> int:
            return proxy.get("/api/ready").status_code

        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(ready, range(40)))
        elapsed = time.monotonic() - started
    # At most once per 5 s (ReadyProbe's ttl): once, unless a loaded machine stretched the 40 past it.
    assert statuses == [200] * 40 and 1 <= seen[0] <= 1 + int(elapsed // 5)
