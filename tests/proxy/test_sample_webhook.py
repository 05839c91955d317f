"""``python -m proxy send-test-webhook``: a signed sample call_ended, delivered to a running proxy."""

from __future__ import annotations

import ast
import hashlib
import hmac
import importlib.util
import json
import re
import sqlite3
from pathlib import Path

import pytest

from proxy.__main__ import main
from proxy.sample_webhook import CALL_ID, call_ended
from proxy.webhook import sign, signature_problem
from serving import bind
from tests.conftest import REPO
from tests.proxy.conftest import API_KEY

OTHER_KEY = "key_not_the_proxys_0123456789"


def test_it_sends_a_signed_call_ended_and_prints_every_answer(proxy_factory, tmp_path, monkeypatch, capsys):
    # Webhooks never reach Retell, so the proxy's Retell URL is a closed port.
    origin = str(proxy_factory("http://127.0.0.1:9").base_url).rstrip("/")
    monkeypatch.setenv("RETELL_API_KEY", API_KEY)
    monkeypatch.delenv("RETELL_WEBHOOK_KEY", raising=False)

    assert main(["send-test-webhook", f"{origin}/api/retell-webhook"]) == 0
    out = capsys.readouterr()
    assert out.out == (f"sent a sample call_ended to {origin}/api/retell-webhook, signed with RETELL_API_KEY\n"
                       "the proxy answered 204\n")
    # A bare origin gets the webhook path; the same call again is stored once.
    assert main(["send-test-webhook", origin]) == 0
    assert "the proxy answered 204" in capsys.readouterr().out
    with sqlite3.connect(tmp_path / "usage.sqlite3") as db:
        assert db.execute("SELECT call_id, event, duration_ms, cost_cents FROM call_events").fetchall() == \
               [(CALL_ID, "call_ended", 1000, 0.0)]

    # Signed with a key the proxy does not have: its 401 and message, and a hint; no key printed.
    monkeypatch.setenv("RETELL_WEBHOOK_KEY", OTHER_KEY)
    assert main(["send-test-webhook", origin]) == 1
    out = capsys.readouterr()
    assert "signed with RETELL_WEBHOOK_KEY" in out.out
    assert re.search(r'the proxy answered 401: \{"error":\s*"bad_signature".*does not match the body', out.out)
    assert "the proxy checks with another key than this RETELL_WEBHOOK_KEY" in out.err
    assert OTHER_KEY not in out.out + out.err and API_KEY not in out.out + out.err

    # Nothing listening: a clear error, nothing printed as an answer.
    closed = bind()
    port = closed.getsockname()[1]
    closed.close()
    assert main(["send-test-webhook", f"http://127.0.0.1:{port}/api/retell-webhook", "--timeout", "5"]) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.startswith(f"error: could not reach http://127.0.0.1:{port}/api/retell-webhook: ")


@pytest.mark.parametrize("args, environ, message", [
    (["proxy.example.com"], {"RETELL_API_KEY": API_KEY},
     "error: the URL must be an absolute http(s) URL, such as https://proxy.example.com/api/retell-webhook; "
     "got 'proxy.example.com'\n"),
    (["http://127.0.0.1:9"], {},
     "error: set RETELL_WEBHOOK_KEY (or RETELL_API_KEY) to the key the proxy checks webhooks with\n"),
    (["http://127.0.0.1:9"], {"RETELL_WEBHOOK_KEY": "short"},
     "error: RETELL_WEBHOOK_KEY must be at least 16 characters, got <hidden>\n"),
    (["http://127.0.0.1:9", "--cacert", "/no/such/ca.pem"], {"RETELL_API_KEY": API_KEY},
     "error: --cacert /no/such/ca.pem: [Errno 2] No such file or directory\n"),
])
def test_refused_input_sends_nothing_and_says_why(args, environ, message, monkeypatch, capsys):
    for name in ("RETELL_API_KEY", "RETELL_WEBHOOK_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert main(["send-test-webhook", *args]) == 2
    out = capsys.readouterr()
    assert (out.out, out.err) == ("", message)


def _retell_models() -> dict[str, dict[str, ast.expr | None]]:
    """retell-sdk's model classes of the call object: class -> field -> its default (None when
    required), read from the module's source: importing retell's package takes seconds."""
    spec = importlib.util.find_spec("retell")
    assert spec is not None and spec.submodule_search_locations, "retell-sdk is not installed (pip install -e '.[test]')"
    source = Path(spec.submodule_search_locations[0], "types", "web_call_response.py").read_text()
    return {node.name: {field.target.id: field.value for field in node.body
                        if isinstance(field, ast.AnnAssign) and isinstance(field.target, ast.Name)}
            for node in ast.parse(source).body if isinstance(node, ast.ClassDef)}


def test_the_sample_is_retells_call_object():
    models = _retell_models()
    body = call_ended(1_800_000_000_000)
    assert set(body) == {"event", "call"} and body["event"] == "call_ended"
    for name, fields in (("WebCallResponse", body["call"]), ("CallCost", body["call"]["call_cost"])):
        model = models[name]
        assert set(fields) <= set(model), (name, set(fields) - set(model))
        assert {f for f, default in model.items() if default is None} <= set(fields), name  # every required field
    assert body["call"]["call_status"] == "ended" and body["call"]["call_id"] == CALL_ID


def test_the_docs_signing_example_is_what_the_proxy_computes():
    # The worked example in the proxy's docs: its key, timestamp, body and header, recomputed.
    docs = (REPO / "site_src/docs/proxy.md").read_text()
    section = docs[docs.index("### Signing a webhook"):]
    key = re.search(r"key `([^`]+)`", section)[1]
    stamp = re.search(r"timestamp `(\d+)`", section)[1]
    body = re.search(r"```json\n(.*?)\n```", section, re.S)[1].encode()
    header = re.search(r"x-retell-signature: (v=\d+,d=[0-9a-f]{64})", section)[1]
    assert json.loads(body)["event"] == "call_ended"
    digest = hmac.new(key.encode(), body + stamp.encode(), hashlib.sha256).hexdigest()
    assert header == f"v={stamp},d={digest}" == sign(body, key, int(stamp))
    assert signature_problem(body, key, header, now_ms=int(stamp)) is None
    # The openssl line the docs give prints the same digest.
    assert f"# SHA2-256(stdin)= {digest}" in section
