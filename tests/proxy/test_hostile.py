"""Hostile input: every refusal has its status and headers, and none of them reaches Retell."""

import contextlib
import json
import math
import re
import sqlite3
import tracemalloc

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from proxy.calls import InvalidEvent, parse_event
from proxy.settings import Secret
from proxy.validation import InvalidBody, parse_create
from tests.proxy.conftest import API_KEY, REGISTRY
from tests.releases import manifest_json

SHOP = "https://shop.example"
ENDPOINT = "/api/create-web-call"
SERVER_TOKEN = "server-token-0123456789abcdef"


def assert_refused(response, status, code, cors_origin=None):
    assert response.status_code == status, response.text
    assert response.json()["error"] == code and response.json()["message"]
    assert response.headers["vary"] == "Origin"
    assert response.headers["x-request-id"]
    assert response.headers.get("access-control-allow-origin") == cors_origin
    assert "*" not in response.headers.get("access-control-allow-origin", "")


@pytest.mark.parametrize("origin", [
    "https://shop.example.",                 # trailing dot
    "https://shop.example:443",              # the default port spelt out
    "HTTPS://shop.example",                  # scheme case
    "https://shop.example@evil.example",     # credentials trick
    "https://evil.example#shop.example",     # fragment trick
    "https://evil.example/?shop.example",    # query trick
    "https://xn--shp-jua.example",           # a punycode lookalike (shöp)
    "https://shop.example.evil.example",     # suffix
    "https://www.shop.example.evil.example", # a subdomain of the suffix
    "https://shop-example.com",              # separator swap
    "https://shopexample",                   # dot dropped
    "http://127.0.0.1:3000",                 # the local origin's host swapped
    "http://localhost",                      # the local origin without its port
    "https://*.shop.example",                # the pattern itself
    "file://",
    "chrome-extension://abcdefghijklmnop",
    "https://shop.example https://bolt.example",  # two origins in one header
    "https://shop.example,https://bolt.example",
    "https://" + "a" * 300 + ".shop.example",      # a label past 63 characters
])
def test_refuses_hostile_origins_without_calling_retell(shared_proxy, fake_retell, origin):
    response = shared_proxy.post(ENDPOINT, json={"agent_id": "agent_shop"}, headers={"Origin": origin})
    assert_refused(response, 403, "origin_not_allowed")
    assert fake_retell[0].requests == []


def test_several_origin_headers_are_refused_even_if_all_are_registered(shared_proxy, fake_retell):
    for pair in ([SHOP, SHOP], [SHOP, "https://www.shop.example"], ["https://evil.example", SHOP]):
        response = shared_proxy.post(ENDPOINT, json={"agent_id": "agent_shop"}, headers=[("Origin", o) for o in pair])
        assert_refused(response, 403, "origin_not_allowed")
    assert fake_retell[0].requests == []


@pytest.mark.parametrize("content_type", [
    None, "", "text/plain", "text/json", "application/jsonx", "application/json-patch+json",
    "multipart/form-data; boundary=x", "application/x-www-form-urlencoded", "application/xml",
])
def test_only_json_is_accepted(shared_proxy, fake_retell, content_type):
    headers = {"Origin": SHOP} | ({"Content-Type": content_type} if content_type is not None else {})
    response = shared_proxy.post(ENDPOINT, content=b'{"agent_id": "agent_shop"}', headers=headers)
    assert_refused(response, 415, "unsupported_media_type", SHOP)
    assert fake_retell[0].requests == []


def test_json_with_parameters_is_fine(shared_proxy, fake_retell):
    response = shared_proxy.post(ENDPOINT, content=b'{"agent_id": "agent_shop"}',
                          headers={"Origin": SHOP, "Content-Type": "Application/JSON; charset=utf-8"})
    assert response.status_code == 201


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "HEAD", "TRACE"])
def test_other_methods_are_refused(shared_proxy, fake_retell, method):
    response = shared_proxy.request(method, ENDPOINT, headers={"Origin": SHOP})
    assert response.status_code == 405
    assert fake_retell[0].requests == []


@pytest.mark.parametrize("body, code", [
    ({"agent_id": "agent_shop", "metadata": {"__proto__": {"isAdmin": True}}}, "invalid_metadata"),
    ({"agent_id": "agent_shop", "metadata": {"a": {"constructor": {"prototype": {"x": 1}}}}}, "invalid_metadata"),
    ({"agent_id": "agent_shop", "retell_llm_dynamic_variables": {"__proto__": "x"}}, "invalid_dynamic_variables"),
    ({"agent_id": {"$ne": None}}, "invalid_agent_id"),
    ({"agent_id": ["agent_shop"]}, "invalid_agent_id"),
    ({"agent_id": True}, "invalid_agent_id"),
    ({"agent_id": "agent_shop\u0000"}, "invalid_agent_id"),
    ({"agent_id": "agent_shop", "metadata": float("inf")}, "invalid_json"),  # sent as Infinity: not JSON
    # "$" matched before a final newline: these were forwarded.
    ({"agent_id": "agent_shop\n"}, "invalid_agent_id"),
    ({"agent_id": "agent_shop", "retell_llm_dynamic_variables": {"a\n": "x"}}, "invalid_dynamic_variables"),
])
def test_hostile_bodies_are_400_without_calling_retell(shared_proxy, fake_retell, body, code):
    response = shared_proxy.post(ENDPOINT, content=json.dumps(body).encode(), headers={"Origin": SHOP, "Content-Type": "application/json"})
    assert_refused(response, 400, code, SHOP)
    assert fake_retell[0].requests == []


@pytest.mark.parametrize("raw, where", [
    (b'{"agent_id": "agent_shop", "metadata": {"x": 1e999}}', "metadata.x"),
    (b'{"agent_id": "agent_shop", "metadata": {"a": [1, {"b": -1e400}]}}', "metadata.a[1].b"),
])
def test_a_number_json_cannot_carry_is_refused_by_name_before_any_budget(proxy_factory, fake_retell, raw, where):
    """1e999 parsed as infinity and went to Retell as non-JSON: a 502 that blamed the API key,
    after the agent's budget was charged. It is refused here, naming the field."""
    proxy = proxy_factory(fake_retell[1], rate_limit_agent="1/hour")
    response = proxy.post(ENDPOINT, content=raw, headers={"Origin": SHOP, "Content-Type": "application/json"})
    assert_refused(response, 400, "invalid_metadata", SHOP)
    assert response.json()["message"] == f"{where} must be a finite number"
    assert fake_retell[0].requests == []
    assert proxy.post(ENDPOINT, json={"agent_id": "agent_shop"}, headers={"Origin": SHOP}).status_code == 201  # budget intact


def test_a_streamed_oversized_body_is_cut_off_at_the_limit(shared_proxy, fake_retell):
    def chunks():
        yield b'{"agent_id": "agent_shop", "pad": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}'

    response = shared_proxy.post(ENDPOINT, content=chunks(), headers={"Origin": SHOP, "Content-Type": "application/json"})
    assert_refused(response, 413, "body_too_large", SHOP)
    assert fake_retell[0].requests == []


def test_unknown_fields_are_not_forwarded(shared_proxy, fake_retell):
    body = {"agent_id": "agent_shop", "metadata": {"page": "/"}, "call_type": "phone_call",
            "from_number": "+15550100", "override_agent_id": "agent_bolt", "agent_override": {"retell_llm": {}}}
    assert shared_proxy.post(ENDPOINT, json=body, headers={"Origin": SHOP}).status_code == 201
    call = next(iter(fake_retell[0].calls.values()))
    assert call.agent_id == "agent_shop" and call.agent_version == 0
    assert call.metadata == {"page": "/", "client_id": "shop", "origin": SHOP}


def test_no_origin_needs_the_server_credential(proxy_factory, fake_retell):
    proxy = proxy_factory(fake_retell[1], server_token=Secret(SERVER_TOKEN))
    assert_refused(proxy.post(ENDPOINT, json={"agent_id": "agent_shop"}), 403, "origin_not_allowed")
    wrong = proxy.post(ENDPOINT, json={"agent_id": "agent_shop"}, headers={"Authorization": "Bearer " + "x" * 29})
    assert_refused(wrong, 403, "origin_not_allowed")
    assert fake_retell[0].requests == []
    ok = proxy.post(ENDPOINT, json={"agent_id": "agent_bolt"}, headers={"Authorization": f"Bearer {SERVER_TOKEN}"})
    assert ok.status_code == 201 and "access-control-allow-origin" not in ok.headers
    # The credential does not widen what a browser page may do.
    browser = proxy.post(ENDPOINT, json={"agent_id": "agent_bolt"},
                         headers={"Origin": SHOP, "Authorization": f"Bearer {SERVER_TOKEN}"})
    assert_refused(browser, 403, "agent_not_allowed", SHOP)


def test_preflights_without_origin_or_with_extra_headers_are_refused(shared_proxy):
    assert_refused(shared_proxy.options(ENDPOINT, headers={"Access-Control-Request-Method": "POST"}), 403, "origin_not_allowed")
    for method, extra in [("GET", ""), ("", ""), ("POST", "x-api-key"), ("POST", "content-type, cookie")]:
        response = shared_proxy.options(ENDPOINT, headers={"Origin": SHOP, "Access-Control-Request-Method": method,
                                                    "Access-Control-Request-Headers": extra})
        assert_refused(response, 403, "preflight_refused", SHOP)
    ok = shared_proxy.options(ENDPOINT, headers={"Origin": SHOP, "Access-Control-Request-Method": "POST"})
    assert ok.status_code == 204 and ok.headers["access-control-max-age"] == "600"
    assert "RateLimit-Remaining" in ok.headers["access-control-expose-headers"]
    assert "access-control-allow-credentials" not in ok.headers


_origins = st.one_of(
    st.sampled_from([SHOP, "https://www.shop.example", "https://bolt.example", "null", "", "http://localhost:3000"]),
    st.text(max_size=60),
    st.builds(lambda a, b: f"{a}://{b}", st.sampled_from(["http", "https", "ftp", "HTTPS"]), st.text(max_size=40)),
)
# A leaf that becomes a number JSON text can hold but a float cannot (1e999 parses as infinity).
_HUGE = "__huge_number__"
_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
                     | st.just(_HUGE) | st.integers(min_value=10**30, max_value=10**400),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                     max_leaves=20)


def _encode(value: object) -> bytes:
    return json.dumps(value).replace(f'"{_HUGE}"', "1e999").encode()


_bodies = st.one_of(
    st.binary(max_size=300),
    _json.map(_encode),
    st.fixed_dictionaries({"agent_id": st.sampled_from(["agent_shop", "agent_bolt", "agent_shop\n", "x" * 200, ""])
                           | st.text(max_size=20)},
                          optional={"metadata": _json, "retell_llm_dynamic_variables": _json, "__proto__": _json})
    .map(_encode),
)


def _strict_json(raw: bytes) -> bool:
    """JSON as RFC 8259 has it: no NaN or Infinity, and no number a float cannot hold."""
    def refuse(name: str) -> None:
        raise ValueError(name)

    def finite(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            raise ValueError(text)
        return value

    try:
        json.loads(raw, parse_constant=refuse, parse_float=finite)
    except ValueError:
        return False
    return True


def test_fuzzed_requests_never_cause_a_server_error_nor_send_retell_anything_but_json(serve_upstream, proxy_factory,
                                                                                    registry_file, manifest_file):
    sent: list[bytes] = []  # every body that reached "Retell"
    # The shop lets its pages set the fuzzed variables' names (on a release that sends them).
    registry_file.write_text(REGISTRY.replace('widget_version = "1.0.0"', 'widget_version = "2.9.0"\n'
                                              f'page_variables = {json.dumps(_PAGE_VARIABLES)}', 1))
    manifest_file.write_text(json.dumps(manifest_json("1.0.0", "2.9.0", features={"2.9.0": ("dynamic-variables",)})))

    async def upstream(request):  # noqa: ANN001, ANN202
        sent.append(await request.body())
        return JSONResponse({"access_token": "eyJ.t.s", "call_id": f"call_{len(sent)}"}, status_code=201)

    app = Starlette(routes=[Route("/v2/create-web-call", upstream, methods=["POST"])])
    with serve_upstream(app) as url:
        proxy = proxy_factory(url, rate_limit_ip="100000/minute", rate_limit_agent="100000/minute",
                              usage_commit_wait=0)
        _fuzz_creates(proxy)
        _fuzz_forwarded(proxy)
    assert len(sent) > 20 and all(_strict_json(body) for body in sent), [b for b in sent if not _strict_json(b)][:3]


_PAGE_VARIABLES = ["customer_name", "page_path", "plan", "_ref", "x"]


def _fuzz_forwarded(proxy: httpx.Client) -> None:
    """Bodies from a registered page for its own agent, with any metadata and variables: what
    passes the checks goes to Retell, and only as JSON."""
    @settings(max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(body=st.fixed_dictionaries({"agent_id": st.just("agent_shop")},
                                      optional={"metadata": _json | st.dictionaries(st.text(max_size=8), _json, max_size=4),
                                                "retell_llm_dynamic_variables": st.dictionaries(
                                                    st.sampled_from(_PAGE_VARIABLES), st.text(max_size=20), max_size=4)})
           .map(_encode))
    def one(body):
        response = proxy.post(ENDPOINT, content=body, headers={"Origin": SHOP, "Content-Type": "application/json"})
        assert response.status_code in (201, 400), response.text

    one()


def _fuzz_creates(proxy: httpx.Client) -> None:
    @settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(origin=_origins, content_type=st.sampled_from(["application/json", "text/plain", "", "application/json; charset=latin-1"]),
           body=_bodies, method=st.sampled_from(["POST", "POST", "POST", "OPTIONS", "PUT"]))
    def one(origin, content_type, body, method):
        # Raw UTF-8 bytes, so non-ASCII origins reach the server as a browser-less attacker sends them.
        headers = [(b"Content-Type", content_type.encode())] + ([(b"Origin", origin.encode())] if origin else [])
        try:
            response = proxy.request(method, ENDPOINT, content=body, headers=headers)
        except httpx.LocalProtocolError:
            return  # httpx refuses to send this header value at all; nothing reached the proxy
        assert response.status_code < 500, response.text
        assert "Traceback" not in response.text
        assert response.headers.get("access-control-allow-origin") in (None, SHOP, "https://www.shop.example",
                                                                       "https://bolt.example", "http://localhost:3000")
        if "x-request-id" not in response.headers:
            # uvicorn itself turned away a malformed request (e.g. control characters in a header).
            assert response.status_code == 400
        elif response.status_code != 204:
            assert response.json()

    one()


@settings(max_examples=150, deadline=None, database=None)
@given(body=_bodies)
def test_parsing_any_body_holds_little_memory(body):
    """An 8 KiB body at most (PROXY_MAX_BODY_BYTES), however it nests or whatever numbers it holds:
    parsing and checking it never holds more than a few hundred KiB."""
    tracemalloc.start()
    try:
        for parse in (parse_create, lambda raw: parse_event(json.loads(raw))):
            with contextlib.suppress(InvalidBody, InvalidEvent, ValueError, RecursionError):
                parse(body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 512 * 1024, f"{peak} bytes for a body of {len(body)}"


def test_fuzzed_webhooks_signed_or_not_never_cause_a_server_error_or_a_row(proxy, tmp_path):
    """Retell's endpoint takes bodies from anyone: unsigned junk is 401, signed junk is 400 or 204."""
    from harness.webhooks import sign

    calls = st.fixed_dictionaries({}, optional={
        "call_id": st.one_of(st.text(max_size=140), st.integers(), st.none()),
        "duration_ms": st.one_of(st.integers(-5, 10**16), st.floats(allow_nan=True), st.text(max_size=5), st.booleans()),
        "disconnection_reason": st.one_of(st.text(max_size=70), st.integers()),
        "call_cost": st.one_of(st.dictionaries(st.just("combined_cost"), st.one_of(st.floats(), st.text())), st.integers()),
    })
    events = st.one_of(st.builds(lambda e, c: json.dumps({"event": e, "call": c}).encode(),
                                 st.sampled_from(["call_started", "call_ended", "call_analyzed", "other", ""]), calls),
                       st.binary(max_size=300))

    @settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(body=events, signed=st.booleans())
    def one(body, signed):
        headers = {"Content-Type": "application/json", **({"X-Retell-Signature": sign(body, API_KEY)} if signed else {})}
        response = proxy.post("/api/retell-webhook", content=body, headers=headers)
        assert response.status_code in ((204, 400) if signed else (401,)), response.text
        assert "Traceback" not in response.text and API_KEY not in response.text

    one()
    with sqlite3.connect(tmp_path / "usage.sqlite3") as db:
        rows = db.execute("SELECT call_id, event, duration_ms, cost_cents FROM call_events").fetchall()
    # Only signed events with valid fields were kept.
    for call_id, event, duration, cost in rows:
        assert re.fullmatch(r"[A-Za-z0-9_\-]{1,128}", call_id) and event in ("call_started", "call_ended", "call_analyzed")
        assert (duration is None or duration >= 0) and (cost is None or cost >= 0)
