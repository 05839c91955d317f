import ipaddress
import json
import logging
import shutil
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from serving import bind
from harness.faults import Faults
from proxy.ratelimit import DAY, MemoryCounters, RateLimits, RedisCounters, client_ip, counters_for, ip_key
from tests.conftest import run_async
from tests.proxy.conftest import API_KEY

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


@pytest.mark.parametrize("address, prefix, key", [
    ("203.0.113.9", 64, "203.0.113.9"),
    ("::ffff:203.0.113.9", 64, "203.0.113.9"),                         # IPv4-mapped: the IPv4 address
    ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 64, "2001:db8:1:2::/64"),
    ("2001:DB8:1:2::7", 64, "2001:db8:1:2::/64"),                      # spelt differently, same network
    ("2001:db8:1:2:aaaa::1", 56, "2001:db8:1::/56"),
    ("2001:db8::1", 128, "2001:db8::1/128"),
    ("unknown", 64, "unknown"),
])
def test_an_ipv6_client_is_its_network(address, prefix, key):
    assert ip_key(address, prefix) == key


class _AccessLines(logging.Handler):
    """The proxy's access lines; the server writes each once its response is sent, so a test
    waits for them rather than reading them as soon as it has the answer."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []
        self._written = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self._written:
            self.records.append(record)
            self._written.notify_all()

    def wait_for(self, count: int, timeout: float = 10) -> list[logging.LogRecord]:
        with self._written:
            assert self._written.wait_for(lambda: len(self.records) >= count, timeout), self.records
            return list(self.records)


def test_rotating_addresses_inside_one_ipv6_network_buys_no_budget(proxy_factory, fake_retell):
    """The hostile review's attack: 60 addresses of one /64 made 60 creates at 20/minute."""
    proxy = proxy_factory(fake_retell[1], rate_limit_ip="20/hour", trusted_proxies=TRUSTED)
    access, logger = _AccessLines(), logging.getLogger("proxy.access")
    level = logger.level
    logger.addHandler(access)
    logger.setLevel(logging.INFO)
    try:
        statuses = [create(proxy, **{"X-Forwarded-For": f"2001:db8:1:2::{n:x}"}).status_code for n in range(1, 31)]
        # Another household's network is not touched by it.
        other = create(proxy, **{"X-Forwarded-For": "2001:db8:1:3::1"}).status_code
        records = access.wait_for(31)
    finally:
        logger.removeHandler(access)
        logger.setLevel(level)
    assert statuses == [201] * 20 + [429] * 10 and other == 201
    lines = [r for r in records if getattr(r, "ip", None)]
    assert {r.ip for r in lines} == {"2001:db8:1:2::/64", "2001:db8:1:3::/64"}  # the logs name the budget's key


def test_refused_origins_and_wrong_server_tokens_cost_their_ip(proxy_factory, fake_retell):
    """Refusals were free: 300 foreign origins got 300 answers and no 429, and the server token
    could be guessed without end. Each now costs its IP, and a spent IP is refused at once."""
    from proxy.settings import Secret

    token = "server-token-0123456789abcdef"
    proxy = proxy_factory(fake_retell[1], rate_limit_ip="3/hour", trusted_proxies=TRUSTED, server_token=Secret(token))
    attacker, guesser, visitor = ({"X-Forwarded-For": ip} for ip in ("203.0.113.7", "203.0.113.8", "198.51.100.9"))
    foreign = [proxy.post(ENDPOINT, json={"agent_id": "agent_shop"}, headers={"Origin": "https://evil.example", **attacker})
               for _ in range(5)]
    assert [r.status_code for r in foreign] == [403, 403, 403, 429, 429]
    assert "access-control-allow-origin" not in foreign[-1].headers and foreign[-1].headers["retry-after"]
    guesses = [proxy.post(ENDPOINT, json={"agent_id": "agent_shop"}, headers={"Authorization": f"Bearer guess-{n:024d}", **guesser})
               for n in range(3)]
    assert [r.status_code for r in guesses] == [403] * 3
    # Even the right token is not compared any more from an IP that spent its budget guessing.
    right = {"Authorization": f"Bearer {token}"}
    assert proxy.post(ENDPOINT, json={"agent_id": "agent_shop"}, headers={**right, **guesser}).status_code == 429
    # Nothing of it reached anyone else: a visitor, and the real server elsewhere, are served.
    assert create(proxy, **visitor).status_code == 201
    servers = [proxy.post(ENDPOINT, json={"agent_id": "agent_shop"}, headers={**right, "X-Forwarded-For": "10.9.9.9"})
               for _ in range(5)]
    assert [r.status_code for r in servers] == [201] * 5  # the right token costs no IP budget
    assert len(fake_retell[0].requests) == 6


def test_the_tightest_limit_decides_and_headers_follow_the_standard():
    async def run():
        limits = RateLimits("2/hour;10/day", "5/hour", counters_for("memory://"))
        ip = limits.budgets(ip="1.2.3.4")
        decisions = [await limits.decide(ip) for _ in range(3)]
        return decisions, await limits.decide(limits.budgets(ip="5.6.7.8"))

    (first, second, third), other = run_async(run())
    assert first.shown.allowed and first.shown.remaining == 1 and first.shown.limit == 2
    assert second.shown.allowed and second.shown.remaining == 0
    assert third.refused is third.shown and not third.shown.allowed
    headers = third.shown.headers()
    assert headers["RateLimit-Limit"] == "2" and headers["RateLimit-Remaining"] == "0"
    # Room comes once the weighed count falls below the limit: at most one window and a half on.
    assert 1 <= int(headers["Retry-After"]) <= 5400 and headers["RateLimit-Reset"] == headers["Retry-After"]
    assert headers["RateLimit-Policy"] == "2;w=3600"
    assert other.shown.allowed and other.shown.remaining == 1


def test_a_request_is_charged_to_all_its_budgets_or_to_none():
    async def run():
        limits = RateLimits("3/hour", "1/hour", counters_for("memory://"))
        both = limits.budgets(ip="1.2.3.4", client_agent=("shop", "agent_shop"))
        first, second = await limits.decide(both), await limits.decide(both)
        return first, second, await limits.decide(limits.budgets(ip="1.2.3.4"))

    first, second, ip_only = run_async(run())
    assert first.refused is None and second.refused.kind == "agent"
    assert ip_only.shown.remaining == 1  # 3 - 1 - 1: the refused request did not cost the IP anything


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_sliding_window_weighs_the_last_window_and_says_when_there_is_room():
    window_start = 1_800_000_000 // 60 * 60
    clock = Clock(window_start + 30.0)  # halfway through a one-minute window

    async def run():
        limits = RateLimits("4/minute", "100/minute", MemoryCounters(), clock=clock)
        ip = limits.budgets(ip="1.2.3.4")
        answers = [await limits.decide(ip) for _ in range(5)]
        clock.now += 30  # the next window: last window's 4 count as 4 * (60 - 0) / 60 = 4
        answers.append(await limits.decide(ip))
        clock.now += 15  # a quarter in: 4 * 45 / 60 = 3, room for one
        answers.append(await limits.decide(ip))
        return answers

    answers = run_async(run())
    assert [a.refused is None for a in answers] == [True] * 4 + [False, False, True]
    # Refused at 30 s into the window with 4 in it: room comes 45 s later, 15 s into the next.
    assert answers[4].refused.reset == 45 and answers[5].refused.reset == 15


def test_a_day_quota_counts_per_utc_day_and_resets_at_midnight():
    midnight = 1_800_000_000 // DAY * DAY
    clock = Clock(midnight + DAY - 100)

    async def run():
        limits = RateLimits("100/minute", "100/minute", MemoryCounters(), clock=clock)
        budgets = limits.budgets(client_agent=("shop", "agent_shop"), calls_per_day=2)
        answers = [await limits.decide(budgets) for _ in range(3)]
        await limits.refund(budgets[-1])  # Retell refused the second call: the day gives it back
        answers.append(await limits.decide(budgets))
        clock.now = midnight + DAY + 1
        answers.append(await limits.decide(budgets))
        return answers

    answers = run_async(run())
    assert [a.refused is None for a in answers] == [True, True, False, True, True]
    quota = answers[2].refused
    assert quota.kind == "calls_per_day" and quota.reset == 100 and quota.headers()["Retry-After"] == "100"


def test_a_failing_storage_lets_requests_through_and_says_so(caplog):
    sock = bind()
    port = sock.getsockname()[1]
    sock.close()  # nothing serves Redis there now

    async def run():
        limits = RateLimits("1/minute", "1/minute", counters_for(f"redis://127.0.0.1:{port}"))
        try:
            return await limits.decide(limits.budgets(ip="1.2.3.4")), await limits.ping()
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


def test_redis_and_memory_decide_alike(redis_url):
    """The Lua script and the in-memory counters: the same verdicts for the same hits and times."""
    start = 1_800_000_000 // 60 * 60 + 10.0
    times = [start + i * 7.3 for i in range(40)]  # across several one-minute windows

    async def run(counters):
        clock = Clock(start)
        limits = RateLimits("5/minute", "3/minute", counters, clock=clock)
        seen = []
        try:
            for i, now in enumerate(times):
                clock.now = now
                budgets = limits.budgets(ip="1.2.3.4", client_agent=("shop", "agent_shop"), calls_per_day=20)
                decision = await limits.decide(budgets[: 1 + i % 3])
                seen.append([(v.kind, v.allowed, v.remaining, v.reset) for v in decision.verdicts])
        finally:
            await limits.aclose()
        return seen

    assert run_async(run(RedisCounters(redis_url))) == run_async(run(MemoryCounters()))


def test_one_round_trip_decides_every_budget_of_a_create(redis_url):
    import redis

    async def run():
        limits = RateLimits("5/minute;100/hour", "20/minute", counters_for(redis_url))
        try:
            budgets = limits.budgets(ip="1.2.3.4", client_agent=("shop", "agent_shop"), calls_per_day=50)
            await limits.decide(budgets)  # loads the script
            before = redis.Redis.from_url(redis_url).info("commandstats")
            await limits.decide(budgets)
            after = redis.Redis.from_url(redis_url).info("commandstats")
        finally:
            await limits.aclose()
        return len(budgets), before, after

    count, before, after = run_async(run())
    assert count == 4
    calls = {name: after[name]["calls"] - before.get(name, {"calls": 0})["calls"] for name in after
             if name.startswith("cmdstat_") and name != "cmdstat_info"}
    assert {k: v for k, v in calls.items() if v and k in ("cmdstat_evalsha", "cmdstat_eval", "cmdstat_get", "cmdstat_incr")} \
        == {"cmdstat_evalsha": 1, "cmdstat_get": 7, "cmdstat_incr": 4}  # all inside the one script


def test_two_instances_on_one_redis_enforce_a_day_quota_exactly(proxy_factory, fake_retell, redis_url, registry_file):
    registry_file.write_text(registry_file.read_text().replace('agents = ["agent_shop"]',
                                                               'agents = ["agent_shop"]\nmax_calls_per_day = 7', 1))
    proxies = [proxy_factory(fake_retell[1], rate_limit_ip="1000/hour", rate_limit_agent="1000/hour",
                             rate_limit_storage=redis_url) for _ in range(2)]
    urls = [str(p.base_url) for p in proxies]

    def hit(i: int) -> httpx.Response:
        with httpx.Client(base_url=urls[i % 2], timeout=10) as client:
            return create(client)

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(hit, range(40)))
    statuses = [a.status_code for a in answers]
    assert statuses.count(201) == 7 and statuses.count(429) == 33
    refused = next(a for a in answers if a.status_code == 429)
    assert refused.json()["error"] == "quota_exceeded" and int(refused.headers["retry-after"]) >= 1
    assert len(fake_retell[0].requests) == 7


def with_quota(registry_file, line: str) -> None:
    registry_file.write_text(registry_file.read_text().replace('agents = ["agent_shop"]', f'agents = ["agent_shop"]\n{line}', 1))


def test_a_day_quota_refuses_with_quota_exceeded_and_a_failed_create_is_given_back(proxy_factory, fake_retell, registry_file):
    with_quota(registry_file, "max_calls_per_day = 2")
    proxy = proxy_factory(fake_retell[1])
    fake_retell[0].faults = Faults.parse({"create": {"status": 500}})
    assert create(proxy).status_code == 502  # Retell failed: no call, so it does not count
    fake_retell[0].faults = Faults()
    assert [create(proxy).status_code for _ in range(2)] == [201, 201]
    refused = create(proxy)
    assert refused.status_code == 429 and refused.json()["error"] == "quota_exceeded"
    assert "available again later" in refused.json()["message"]
    assert 1 <= int(refused.headers["retry-after"]) <= 86400  # at the next UTC midnight
    assert refused.headers["access-control-allow-origin"] == SHOP  # the widget may read why
    bolt = proxy.post(ENDPOINT, json={"agent_id": "agent_bolt"}, headers={"Origin": "https://bolt.example"})
    assert bolt.status_code == 201  # another client's quota is its own


def test_a_minutes_quota_counts_the_minutes_retells_webhooks_reported(proxy_factory, fake_retell, registry_file):
    from harness.webhooks import sign

    with_quota(registry_file, "max_minutes_per_month = 5")
    proxy = proxy_factory(fake_retell[1])
    first = create(proxy)
    assert first.status_code == 201
    ended = json.dumps({"event": "call_ended", "call": {"call_id": first.json()["call_id"], "duration_ms": 4 * 60_000}}).encode()
    assert proxy.post("/api/retell-webhook", content=ended, headers={"X-Retell-Signature": sign(ended, API_KEY)}).status_code == 204
    assert create(proxy).status_code == 201  # 4 of 5 minutes used
    second = create(proxy).json()["call_id"]
    ended = json.dumps({"event": "call_ended", "call": {"call_id": second, "duration_ms": 2 * 60_000}}).encode()
    assert proxy.post("/api/retell-webhook", content=ended, headers={"X-Retell-Signature": sign(ended, API_KEY)}).status_code == 204
    refused = create(proxy)
    assert refused.status_code == 429 and refused.json()["error"] == "quota_exceeded"
    assert int(refused.headers["retry-after"]) <= 31 * 86400  # the first of next month, UTC


def test_a_redis_that_stalls_fails_open_within_a_second_and_is_used_again_when_it_answers(redis_url, caplog):
    import os
    import signal
    import time

    import redis

    pid = redis.Redis.from_url(redis_url).info("server")["process_id"]

    async def run():
        limits = RateLimits("100/minute", "100/minute", counters_for(redis_url))
        budgets = limits.budgets(ip="1.2.3.4")
        try:
            first = await limits.decide(budgets)
            os.kill(pid, signal.SIGSTOP)  # Redis stops answering, its socket stays open
            try:
                started = time.monotonic()
                stalled = await limits.decide(budgets)
                waited = time.monotonic() - started
            finally:
                os.kill(pid, signal.SIGCONT)
            return first, stalled, waited, await limits.decide(budgets)
        finally:
            await limits.aclose()

    first, stalled, waited, after = run_async(run())
    assert first.refused is None and stalled is None and after.refused is None
    assert waited < 5  # the one-second limit, with room for a loaded machine
    assert "rate-limit storage failed" in caplog.text
    # The stalled request was already on the wire, so Redis ran it once it woke: 100 - 3. And the
    # answer is the new request's own: a connection that handed over the stale reply would say 98.
    assert after.shown.remaining == 97
