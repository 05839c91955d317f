import ipaddress
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from builder.server import bind
from proxy.ratelimit import RateLimits, client_ip, storage_for
from tests.conftest import run_async

SHOP = "https://shop.example"
ENDPOINT = "/api/create-web-call"
TRUSTED = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("127.0.0.1/32"))


def create(client, ip_hint=None, **headers):
    return client.post(ENDPOINT, json={"agent_id": "agent_shop"}, headers={"Origin": SHOP, **headers})


@pytest.mark.parametrize("peer, forwarded, trusted, expected", [
    ("203.0.113.9", ["198.51.100.1"], (), "203.0.113.9"),                   # no trusted proxies: header ignored
    ("203.0.113.9", ["198.51.100.1"], TRUSTED, "203.0.113.9"),              # peer is not a trusted proxy
    ("10.0.0.2", ["198.51.100.1"], TRUSTED, "198.51.100.1"),                # one trusted hop
    ("10.0.0.2", ["6.6.6.6, 198.51.100.1, 10.0.0.7"], TRUSTED, "198.51.100.1"),  # the client forged the left part
    ("10.0.0.2", ["6.6.6.6", "198.51.100.1"], TRUSTED, "198.51.100.1"),     # several header lines
    ("10.0.0.2", ["not-an-ip"], TRUSTED, "10.0.0.2"),                       # garbage: the last trusted hop
    ("10.0.0.2", [], TRUSTED, "10.0.0.2"),
    ("10.0.0.2", ["10.0.0.3"], TRUSTED, "10.0.0.3"),                        # all trusted: the farthest
    ("10.0.0.2", ["2001:db8::1"], TRUSTED, "2001:db8::1"),
    (None, ["198.51.100.1"], TRUSTED, "unknown"),
])
def test_client_ip_believes_forwarded_for_only_from_trusted_proxies(peer, forwarded, trusted, expected):
    assert client_ip(peer, forwarded, trusted) == expected


def test_the_tightest_limit_decides_and_headers_follow_the_standard():
    async def run():
        limits = RateLimits("2/hour;10/day", "5/hour", storage_for("memory://"))
        first = await limits.check_ip("1.2.3.4")
        second = await limits.check_ip("1.2.3.4")
        third = await limits.check_ip("1.2.3.4")
        other = await limits.check_ip("5.6.7.8")
        return first, second, third, other

    first, second, third, other = run_async(run())
    assert first.allowed and first.remaining == 1 and first.limit == 2
    assert second.allowed and second.remaining == 0
    assert not third.allowed
    headers = third.headers()
    assert headers["RateLimit-Limit"] == "2" and headers["RateLimit-Remaining"] == "0"
    assert 1 <= int(headers["Retry-After"]) <= 3600 and 0 <= int(headers["RateLimit-Reset"]) <= 3600
    assert headers["RateLimit-Policy"] == "2;w=3600"
    assert other.allowed and other.remaining == 1


def test_a_failing_storage_lets_requests_through_and_says_so(caplog):
    sock = bind()
    port = sock.getsockname()[1]
    sock.close()  # nothing serves Redis there now

    async def run():
        limits = RateLimits("1/minute", "1/minute", storage_for(f"redis://127.0.0.1:{port}"))
        try:
            return await limits.check_ip("1.2.3.4"), await limits.ping()
        finally:
            await limits.aclose()

    verdict, alive = run_async(run())
    assert verdict is None and alive is False
    assert "rate-limit storage failed" in caplog.text


def test_per_ip_limit_answers_429_with_retry_after_and_no_upstream_call(proxy_factory, fake_retell):
    proxy = proxy_factory(fake_retell[1], rate_limit_ip="2/hour")
    ok = [create(proxy) for _ in range(2)]
    limited = create(proxy)
    assert [r.status_code for r in ok] == [201, 201]
    assert ok[0].headers["ratelimit-remaining"] == "1" and ok[1].headers["ratelimit-remaining"] == "0"
    assert limited.status_code == 429
    assert limited.json()["error"] == "rate_limited" and "try again in" in limited.json()["message"]
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.headers["ratelimit-limit"] == "2"
    assert limited.headers["access-control-allow-origin"] == SHOP
    exposed = limited.headers["access-control-expose-headers"]
    for name in ("Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"):
        assert name in exposed
    assert len(fake_retell[0].requests) == 2


def test_per_agent_limit_counts_created_calls_per_client_and_agent(proxy_factory, fake_retell):
    proxy = proxy_factory(fake_retell[1], rate_limit_ip="100/hour", rate_limit_agent="1/hour")
    assert create(proxy).status_code == 201
    assert create(proxy).status_code == 429
    # Another client's agent has its own budget.
    bolt = proxy.post(ENDPOINT, json={"agent_id": "agent_bolt"}, headers={"Origin": "https://bolt.example"})
    assert bolt.status_code == 201
    assert len(fake_retell[0].requests) == 2


def test_forwarded_for_counts_only_behind_a_trusted_proxy(proxy_factory, fake_retell):
    untrusted = proxy_factory(fake_retell[1], rate_limit_ip="1/hour")
    assert create(untrusted, **{"X-Forwarded-For": "198.51.100.1"}).status_code == 201
    # Rotating the header does not buy a fresh budget from an untrusted peer.
    assert create(untrusted, **{"X-Forwarded-For": "198.51.100.2"}).status_code == 429

    trusted = proxy_factory(fake_retell[1], rate_limit_ip="1/hour", trusted_proxies=TRUSTED)
    assert create(trusted, **{"X-Forwarded-For": "198.51.100.1"}).status_code == 201
    assert create(trusted, **{"X-Forwarded-For": "198.51.100.2"}).status_code == 201
    assert create(trusted, **{"X-Forwarded-For": "198.51.100.1"}).status_code == 429


def test_the_server_credential_skips_the_ip_budget_but_not_the_agent_budget(proxy_factory, fake_retell):
    from proxy.settings import Secret

    token = "server-token-0123456789abcdef"
    proxy = proxy_factory(fake_retell[1], rate_limit_ip="1/hour", rate_limit_agent="2/hour", server_token=Secret(token))
    server = {"Authorization": f"Bearer {token}"}
    statuses = [proxy.post(ENDPOINT, json={"agent_id": "agent_shop"}, headers=server).status_code for _ in range(3)]
    assert statuses == [201, 201, 429]


# Budgets in these tests are per hour: sliding windows weigh the previous window in, so a test
# that crossed a window's edge could see one call fewer; with an hour, that is very unlikely.


@pytest.fixture
def redis_url():
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (.ci/run installs it)")
    sock = bind()
    port = sock.getsockname()[1]
    sock.close()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--loglevel", "notice"],
                              stdout=subprocess.PIPE, text=True)
    try:
        for line in server.stdout:
            if "Ready to accept connections" in line:
                break
        else:
            pytest.fail("redis-server did not start")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(10)
        server.stdout.close()


def test_two_instances_share_one_redis_budget_under_concurrent_load(proxy_factory, fake_retell, redis_url):
    limit = 25
    proxies = [proxy_factory(fake_retell[1], rate_limit_ip=f"{limit}/hour", rate_limit_storage=redis_url) for _ in range(2)]
    urls = [str(p.base_url) for p in proxies]

    def hit(i: int) -> int:
        with httpx.Client(base_url=urls[i % 2], timeout=10) as client:
            return create(client).status_code

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(hit, range(80)))
    assert statuses.count(201) == limit
    assert statuses.count(429) == 80 - limit
    assert len(fake_retell[0].requests) == limit
    # And the ready check sees the shared storage.
    assert proxies[0].get("/api/ready").json()["checks"]["rate_limit_storage"] == "ok"
