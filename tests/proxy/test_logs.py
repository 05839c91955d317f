import io
import json
import logging
import threading

import pytest

from proxy.logs import JsonFormatter
from tests.proxy.conftest import API_KEY

SHOP = "https://shop.example"
ENDPOINT = "/api/create-web-call"


class CapturedLog(logging.StreamHandler):
    """Log lines as the CLI formats them; a test can wait for a line the server writes later."""

    def __init__(self) -> None:
        super().__init__(io.StringIO())
        self.setFormatter(JsonFormatter())
        self._written = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        super().emit(record)
        with self._written:
            self._written.notify_all()

    def getvalue(self) -> str:
        return self.stream.getvalue()

    def wait_for(self, predicate, timeout: float = 10) -> bool:
        with self._written:
            return self._written.wait_for(lambda: predicate(lines(self)), timeout)


@pytest.fixture
def json_log():
    """Everything logged while the test runs, formatted as the CLI formats it."""
    handler = CapturedLog()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def lines(stream):
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_log_lines_are_json_with_the_request_id_of_the_response(proxy, json_log):
    response = proxy.post(ENDPOINT, json={"agent_id": "agent_shop"}, headers={"Origin": SHOP})
    rid = response.headers["x-request-id"]
    # The access line is written once the response has been sent, so it may come after it.
    assert json_log.wait_for(lambda log: any(e["request_id"] == rid and e["logger"] == "proxy.access" for e in log))
    entries = [e for e in lines(json_log) if e["request_id"] == rid]
    # One line per request; a create adds what it decided.
    access = next(e for e in entries if e["logger"] == "proxy.access")
    assert access["message"] == f"POST {ENDPOINT} 201"
    assert access | {"method": "POST", "path": ENDPOINT, "status": 201, "outcome": "created", "client": "shop",
                     "agent": "agent_shop"} == access
    assert access["duration_ms"] > 0
    assert access["level"] == "info" and access["time"].endswith("Z")


def test_a_plain_incoming_request_id_is_kept_and_a_strange_one_replaced(proxy):
    assert proxy.get("/api/health", headers={"X-Request-Id": "lb-0123456789"}).headers["x-request-id"] == "lb-0123456789"
    forged = proxy.get("/api/health", headers={"X-Request-Id": 'x" "level": "error'}).headers["x-request-id"]
    assert forged != 'x" "level": "error' and len(forged) == 16


def test_exceptions_are_logged_by_type_only():
    try:
        raise ValueError("secret detail")
    except ValueError:
        record = logging.LogRecord("proxy", logging.ERROR, __file__, 1, "failed", None, __import__("sys").exc_info())
    entry = json.loads(JsonFormatter().format(record))
    assert entry["exception"] == "ValueError" and "secret detail" not in json.dumps(entry)


def test_the_api_key_never_appears_in_a_response_or_a_log_line(proxy_factory, fake_retell, json_log):
    bodies = []
    good = proxy_factory(fake_retell[1])
    wrong = proxy_factory(fake_retell[1], api_key="key_wrong_" + API_KEY)
    for proxy in (good, wrong):
        for body, origin in [({"agent_id": "agent_shop"}, SHOP), ({"agent_id": "agent_bolt"}, SHOP),
                             ({"agent_id": "agent_shop"}, "https://evil.example"), ({"agent_id": 1}, SHOP)]:
            response = proxy.post(ENDPOINT, json=body, headers={"Origin": origin})
            bodies.append(response.text + json.dumps(dict(response.headers)))
        for path in ("/api/ready", "/metrics", "/api/widget-version", "/api/health"):
            response = proxy.get(path)
            bodies.append(response.text + json.dumps(dict(response.headers)))
    text = json_log.getvalue()
    assert "check RETELL_API_KEY" in text  # the wrong key was noticed...
    assert API_KEY not in text and API_KEY not in "".join(bodies)  # ...and never shown
