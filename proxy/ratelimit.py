"""Rate limits and quotas: every budget a create needs, decided in one step.

Budgets: per client IP and per client and agent (sliding window counters), and a client's calls
per day (a count per UTC day). A request is charged to all of its budgets, or, if any one is
spent, to none. In memory by default; with Redis, one server-side script reads, decides and
charges every budget of a request in one round trip, so that every proxy instance draws on one
budget.

A sliding window counter keeps two counts per key, this window's and the last one's, and weighs
the last one by how much of it still overlaps the sliding window: a hit costs the same at
10/minute and at 10,000/minute, and a budget never frees all at once at a window's edge.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from limits import RateLimitItem, parse_many

from proxy.settings import Network

log = logging.getLogger("proxy.ratelimit")
_PREFIX = "{retell-proxy}:"  # one hash slot: the script's keys may all be used on a Redis Cluster too
DAY = 86400
_TIMEOUT = 1.0  # seconds a Redis round trip may take before the limiter fails open

# One call decides a batch of requests, in order. KEYS: per request, per budget, this window's key
# and the last window's (the same key for a calendar budget). ARGV: the number of requests, then
# per request its time (seconds), number of budgets and whether it only looks (1: nothing is
# charged), then per budget its limit and window (seconds). Returns per request: 1 or 0 (all of
# its budgets charged, or could be; or none), then per budget this window's and the last window's
# counts before the charge.
_SCRIPT = """
local answers, k, a = {}, 0, 1
for r = 1, tonumber(ARGV[1]) do
  local now, n, dry = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  a = a + 3
  local answer, keys, windows, allowed = {1}, {}, {}, 1
  for i = 1, n do
    local limit, window = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
    local current_key, last_key = KEYS[k + 1], KEYS[k + 2]
    a, k = a + 2, k + 2
    local current = tonumber(redis.call('GET', current_key) or '0')
    local last = 0
    if last_key ~= current_key then last = tonumber(redis.call('GET', last_key) or '0') end
    answer[2 * i], answer[2 * i + 1] = current, last
    keys[i], windows[i] = current_key, window
    if current + last * (window - now % window) / window + 1 > limit then allowed = 0 end
  end
  if allowed == 1 and dry == 0 then
    for i = 1, n do
      -- A key lives two windows (while it is this window's or the last's); set once, when new.
      if redis.call('INCR', keys[i]) == 1 then redis.call('EXPIRE', keys[i], 2 * windows[i]) end
    end
  end
  answer[1] = allowed
  answers[r] = answer
end
return answers
"""


@dataclass(frozen=True, slots=True)
class Budget:
    """One limit on one key: ``window`` seconds, sliding unless ``calendar`` (UTC days, fixed)."""

    kind: str  # "ip", "agent" or "calls_per_day": which refusal a spent budget gives
    key: str
    limit: int
    window: int
    calendar: bool = False

    def keys(self, now: float) -> tuple[str, str]:
        index = int(now // self.window)
        current = f"{_PREFIX}{self.kind}:{self.window}:{self.key}:{index}"
        return current, current if self.calendar else f"{_PREFIX}{self.kind}:{self.window}:{self.key}:{index - 1}"

    def weighed(self, current: int, last: int, now: float) -> float:
        """The count the budget sees now (as the script computes it)."""
        elapsed = now % self.window
        return current + last * (self.window - elapsed) / self.window

    def verdict(self, current: int, last: int, now: float, charged: bool) -> Verdict:
        weight = self.weighed(current, last, now)
        allowed = charged or weight + 1 <= self.limit
        after = weight + 1 if charged else weight
        elapsed = now % self.window
        if allowed or self.calendar:
            reset = self.window - elapsed  # this window's end: the next day, for a calendar budget
        else:
            reset = _time_to_room(self, current, last, elapsed)
        return Verdict(allowed, self.limit, max(0, math.floor(self.limit - after)), max(0, math.ceil(reset)),
                       self.window, self.kind)


def _time_to_room(budget: Budget, current: int, last: int, elapsed: float) -> float:
    """Seconds until the sliding count leaves room for one more, with no more hits meanwhile."""
    window, room = budget.window, budget.limit - 1
    if current <= room and last > 0:
        # The last window's share shrinks as this one goes on.
        wait = (current + last * (window - elapsed) / window - room) * window / last
        if wait <= window - elapsed:
            return wait
    # Only in the next window, where this window's count is the one that shrinks.
    return (window - elapsed) + (window * (1 - room / current) if current > 0 else 0)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of one budget: allowed or not, and what the RateLimit headers should say."""

    allowed: bool
    limit: int
    remaining: int
    reset: int  # seconds until the window frees capacity again
    window: int
    kind: str = "ip"

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
            "RateLimit-Policy": f"{self.limit};w={self.window}",
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, self.reset))
        return headers


@dataclass(frozen=True, slots=True)
class Decision:
    """Every budget of one request: ``refused`` is the spent one that frees last (None: charged)."""

    verdicts: tuple[Verdict, ...]

    @property
    def refused(self) -> Verdict | None:
        spent = [v for v in self.verdicts if not v.allowed]
        return max(spent, key=lambda v: v.reset) if spent else None

    @property
    def shown(self) -> Verdict | None:
        """The verdict whose headers the answer carries: the refusal, or the tightest budget."""
        return self.refused or min(self.verdicts, key=lambda v: (v.remaining, -v.reset), default=None)


class Counters(Protocol):
    async def take(self, budgets: Sequence[Budget], now: float, dry: bool = False) -> tuple[bool, list[tuple[int, int]]]:
        """Charge every budget or none (``dry``: only say whether they could be); the counts (this
        window's, the last's) before the charge."""
        ...

    async def refund(self, budget: Budget, now: float) -> None: ...
    async def ping(self) -> bool: ...
    async def aclose(self) -> None: ...


class StorageError(Exception):
    """The counters could not be read or charged (Redis away or too slow)."""


class MemoryCounters:
    """One process's counters. Only the event loop touches them, so no lock is needed."""

    _SWEEP_EVERY = 4096  # takes between sweeps of expired keys

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._expires: dict[str, float] = {}
        self._takes = 0

    async def take(self, budgets: Sequence[Budget], now: float, dry: bool = False) -> tuple[bool, list[tuple[int, int]]]:
        self._takes += 1
        if self._takes % self._SWEEP_EVERY == 0:
            self._sweep(now)
        keys = [b.keys(now) for b in budgets]
        counts = [(self._get(current, now), 0 if last == current else self._get(last, now)) for current, last in keys]
        allowed = all(b.weighed(c, p, now) + 1 <= b.limit for b, (c, p) in zip(budgets, counts, strict=True))
        if allowed and not dry:
            for budget, (current, _) in zip(budgets, keys, strict=True):
                self._counts[current] = self._counts.get(current, 0) + 1
                self._expires[current] = now + 2 * budget.window
        return allowed, counts

    async def refund(self, budget: Budget, now: float) -> None:
        current, _ = budget.keys(now)
        if self._get(current, now) > 0:
            self._counts[current] -= 1

    def _get(self, key: str, now: float) -> int:
        if self._expires.get(key, now + 1) <= now:
            return 0
        return self._counts.get(key, 0)

    def _sweep(self, now: float) -> None:
        for key in [k for k, at in self._expires.items() if at <= now]:
            del self._expires[key]
            self._counts.pop(key, None)

    async def ping(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None


class RedisCounters:
    """Counters in Redis, shared by every instance: one script call per request, sent as soon as
    the event loop is free, together with any others that arrived meanwhile.

    Group commit, as the usage recorder does: the decisions that queue while one round trip is on
    the wire go together in the next one, as one ``EVALSHA`` of the script that decides them all,
    in order. Each request still waits on exactly one round trip, and under load the client's
    cost per request (redis-py's, mostly) falls with the batch.
    """

    def __init__(self, uri: str) -> None:
        import redis.asyncio

        # One connection (only one batch is on the wire at a time) and one timeout per batch, not
        # one per socket read and write: each of those costs redis-py a task. A slow Redis is a
        # down Redis, and the limiter then fails open rather than holding requests.
        self._redis = redis.asyncio.Redis.from_url(uri, socket_connect_timeout=_TIMEOUT, single_connection_client=True)
        self._sha = hashlib.sha1(_SCRIPT.encode()).hexdigest()
        self._queue: list[tuple[list[str], list[object], asyncio.Future[list[int]]]] = []
        self._sending = False

    async def take(self, budgets: Sequence[Budget], now: float, dry: bool = False) -> tuple[bool, list[tuple[int, int]]]:
        keys = [k for b in budgets for k in b.keys(now)]
        args: list[object] = [repr(now), int(dry), *(v for b in budgets for v in (b.limit, b.window))]
        done: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._queue.append((keys, args, done))
        if not self._sending:
            self._sending = True
            asyncio.get_running_loop().create_task(self._send())
        answer = await done
        counts = [(int(answer[1 + 2 * i]), int(answer[2 + 2 * i])) for i in range(len(budgets))]
        return bool(answer[0]), counts

    async def _send(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                try:
                    async with asyncio.timeout(_TIMEOUT):
                        answers = await self._evaluate([(keys, args) for keys, args, _ in batch])
                except Exception as exc:  # redis' errors and OSError alike: these requests fail open
                    for _, _, done in batch:
                        if not done.done():
                            done.set_exception(StorageError(type(exc).__name__))
                    continue
                for (_, _, done), answer in zip(batch, answers, strict=True):
                    if not done.done():
                        done.set_result(answer)
        finally:
            self._sending = False

    async def _evaluate(self, calls: list[tuple[list[str], list[object]]]) -> list[list[int]]:
        import redis.exceptions

        keys = [key for call_keys, _ in calls for key in call_keys]
        args: list[object] = [len(calls)]
        for call_keys, call_args in calls:
            args += [call_args[0], len(call_keys) // 2, *call_args[1:]]  # time, budgets, dry, then limits
        try:
            return await self._redis.evalsha(self._sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            # Redis restarted (or never saw the script): EVAL sends it, and Redis keeps it.
            return await self._redis.eval(_SCRIPT, len(keys), *keys, *args)

    async def refund(self, budget: Budget, now: float) -> None:
        import redis.exceptions

        try:
            async with asyncio.timeout(_TIMEOUT):
                await self._redis.decr(budget.keys(now)[0])
        except (redis.exceptions.RedisError, OSError) as exc:
            raise StorageError(type(exc).__name__) from exc

    async def ping(self) -> bool:
        try:
            async with asyncio.timeout(_TIMEOUT):
                return bool(await self._redis.ping())
        except Exception:
            return False

    async def aclose(self) -> None:
        await self._redis.aclose()


def counters_for(uri: str) -> Counters:
    return MemoryCounters() if uri == "memory://" else RedisCounters(uri)


class RateLimits:
    def __init__(self, per_ip: str, per_agent: str, counters: Counters, clock=time.time) -> None:
        self.counters = counters
        self._per_ip = [_window(item) for item in parse_many(per_ip)]
        self._per_agent = [_window(item) for item in parse_many(per_agent)]
        self._clock = clock

    def budgets(self, ip: str | None = None, client_agent: tuple[str, str] | None = None,
                calls_per_day: int | None = None) -> list[Budget]:
        """The budgets of one request: its IP's (a browser's), its client and agent's, and the
        client's calls per day (when the registry sets one)."""
        budgets = [Budget("ip", ip, limit, window) for limit, window in self._per_ip] if ip is not None else []
        if client_agent is not None:
            client, agent = client_agent
            budgets += [Budget("agent", f"{client}/{agent}", limit, window) for limit, window in self._per_agent]
            if calls_per_day is not None:
                budgets.append(Budget("calls_per_day", client, calls_per_day, DAY, calendar=True))
        return budgets

    async def decide(self, budgets: Sequence[Budget], dry: bool = False) -> Decision | None:
        """Charge ``budgets`` if none is spent (``dry``: only look; nothing is charged). None if the
        counters failed: the request goes on."""
        if not budgets:
            return Decision(())
        now = self._clock()
        try:
            charged, counts = await self.counters.take(budgets, now, dry)
        except StorageError as exc:
            # Fail open: a Redis outage must not stop every call. The operator sees it here.
            log.error("rate-limit storage failed; allowing the request", extra={"problem": str(exc)})
            return None
        verdicts = [b.verdict(c, p, now, charged and not dry) for b, (c, p) in zip(budgets, counts, strict=True)]
        if not charged and all(v.allowed for v in verdicts):
            # The storage refused by a hair that our arithmetic rounds the other way: its word holds.
            tightest = min(range(len(verdicts)), key=lambda i: verdicts[i].remaining)
            verdicts[tightest] = replace(verdicts[tightest], allowed=False, remaining=0, reset=max(1, verdicts[tightest].reset))
        return Decision(tuple(verdicts))

    async def refund(self, budget: Budget) -> None:
        """Give back one charge of ``budget`` (a call counted for the day that Retell then refused)."""
        try:
            await self.counters.refund(budget, self._clock())
        except StorageError as exc:
            log.error("rate-limit storage failed; a refused call stays counted", extra={"problem": str(exc)})

    async def ping(self) -> bool:
        return await self.counters.ping()

    async def aclose(self) -> None:
        await self.counters.aclose()


def _window(item: RateLimitItem) -> tuple[int, int]:
    return item.amount, item.get_expiry()


def client_ip(peer: str | None, forwarded_for: list[str], trusted: tuple[Network, ...]) -> str:
    """The address a request came from, believing ``X-Forwarded-For`` only from trusted proxies.

    Walks the chain from the nearest hop outwards and stops at the first address that is not a
    trusted proxy: everything left of it could have been written by the client itself.
    """
    address = peer or "unknown"
    if not trusted or not _is_trusted(address, trusted):
        return address
    hops = [h.strip() for line in forwarded_for for h in line.split(",")]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return address  # a forged or garbled entry: the last trusted hop is all we know
        address = hop
        if not _is_trusted(hop, trusted):
            return hop
    return address


def ip_key(address: str, ipv6_prefix: int = 64) -> str:
    """The one name of a client address, for its rate-limit budget, its usage rows and the logs:
    an IPv4 address as it is (an IPv4-mapped IPv6 address too), an IPv6 address as its network of
    ``ipv6_prefix`` bits ("2001:db8:1:2::/64"). One subscriber is usually handed a whole /64 (2^64
    addresses), so a budget per address would be a budget per attempt."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "unknown"
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    if ip.version == 4:
        return str(ip)
    return str(ipaddress.ip_network(f"{ip}/{ipv6_prefix}", strict=False))


def _is_trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)
