import logging
import os

from proxy.watched import WatchedFile
from tests.proxy.conftest import REGISTRY
from tests.releases import manifest_json, released

SHOP = "https://shop.example"
ENDPOINT = "/api/create-web-call"


def rewrite(path, text):
    """Write ``text`` and move the mtime on, so the change shows even within one clock tick."""
    before = os.stat(path).st_mtime_ns if path.exists() else 0
    path.write_text(text)
    os.utime(path, ns=(before + 1_000_000_000, before + 1_000_000_000))


def test_reloads_on_change_and_keeps_the_last_good_value(tmp_path, caplog):
    path = tmp_path / "n.txt"
    path.write_text("1")
    loads = []

    def load(p):
        loads.append(p)
        return int(p.read_text())

    watched = WatchedFile(path, load, interval=0)
    assert watched.current() == 1
    assert watched.current() == 1 and len(loads) == 1  # unchanged: not read again
    rewrite(path, "2")
    assert watched.current() == 2 and watched.reloads == 1
    rewrite(path, "two")
    with caplog.at_level(logging.ERROR):
        assert watched.current() == 2
    assert "keeping the last good version" in caplog.text
    assert "invalid literal" in watched.error
    assert watched.current() == 2 and len(loads) == 3  # the bad version is not re-read every time
    rewrite(path, "3")
    assert watched.current() == 3 and watched.error is None


def test_checks_at_most_once_per_interval(tmp_path):
    path = tmp_path / "n.txt"
    path.write_text("1")
    now = [0.0]
    watched = WatchedFile(path, lambda p: int(p.read_text()), interval=5, clock=lambda: now[0])
    assert watched.current() == 1
    rewrite(path, "2")
    now[0] = 4.9
    assert watched.current() == 1
    now[0] = 5.0
    assert watched.current() == 2


def test_a_missing_file_loads_nothing_and_says_why(tmp_path):
    watched = WatchedFile(tmp_path / "none.toml", lambda p: p.read_text(), interval=0)
    assert watched.current() is None
    assert "No such file" in watched.error


def test_registry_changes_apply_without_a_restart(proxy, registry_file, caplog):
    bolt = {"Origin": "https://bolt.example"}
    assert proxy.post(ENDPOINT, json={"agent_id": "agent_bolt"}, headers=bolt).status_code == 201
    # Bolt leaves; its origin and agent stop working at once.
    rewrite(registry_file, REGISTRY.split("[[client]]\nid = \"bolt\"")[0])
    assert proxy.post(ENDPOINT, json={"agent_id": "agent_bolt"}, headers=bolt).status_code == 403
    # A broken edit is logged and the last good registry stays in force.
    with caplog.at_level(logging.ERROR):
        rewrite(registry_file, "[[client]\nthis is not toml")
        assert proxy.post(ENDPOINT, json={"agent_id": "agent_shop"}, headers={"Origin": SHOP}).status_code == 201
    assert "could not be loaded; keeping the last good version" in caplog.text
    assert proxy.get("/api/ready").json()["checks"]["registry"] == "stale"
    metrics = proxy.get("/metrics").text
    assert "proxy_registry_error 1.0" in metrics


def test_the_proxy_refuses_what_the_builder_refuses_with_the_same_message(proxy, registry_file, manifest_file, caplog):
    import json

    import registry

    manifest_file.write_text(json.dumps(manifest_json("1.0.0", "1.2.0")))
    bad = REGISTRY.replace('widget_version = "1.0.0"', 'widget_version = "9.9.9"', 1)
    with caplog.at_level(logging.ERROR):
        rewrite(registry_file, bad)
        # The last good registry still serves; the bad one is reported.
        assert proxy.post(ENDPOINT, json={"agent_id": "agent_shop"}, headers={"Origin": SHOP}).status_code == 201
        assert proxy.get("/api/ready").json()["checks"]["registry"] == "stale"
    try:
        registry.load(registry_file, released("1.0.0", "1.2.0"))  # the builder's read, of the changelog's releases
    except registry.RegistryError as exc:
        expected = exc.errors
    assert expected == [f"{registry_file}:9: client 'shop': widget_version '9.9.9' is not a released version"]
    assert any(getattr(r, "problem", None) == expected[0] for r in caplog.records)  # the log line's field
    # A release that adds 9.9.9 to the manifest makes the same registry good, without a restart.
    manifest_file.write_text(json.dumps(manifest_json("1.0.0", "1.2.0", "9.9.9")))
    rewrite(manifest_file, manifest_file.read_text())
    assert proxy.post(ENDPOINT, json={"agent_id": "agent_shop"}, headers={"Origin": SHOP}).status_code == 201
    assert proxy.get("/api/ready").json()["checks"]["registry"] == "ok"


def test_a_bot_check_is_refused_when_the_manifests_release_lacks_the_feature(proxy, registry_file, caplog):
    # The same check as the builder's: what the pinned release can do, read from the manifest
    # (the fixture's: 1.2.0 sends a bot token, 1.0.0 does not).
    guarded = REGISTRY.replace('name = "Shop"', 'name = "Shop"\nbot_check = "turnstile"\nbot_site_key = "k"', 1)
    with caplog.at_level(logging.ERROR):
        rewrite(registry_file, guarded)
        assert proxy.post(ENDPOINT, json={"agent_id": "agent_shop"}, headers={"Origin": SHOP}).status_code == 201
        assert proxy.get("/api/ready").json()["checks"]["registry"] == "stale"
    problems = [getattr(r, "problem", "") for r in caplog.records]
    assert any(p.endswith("bot_check needs a widget release with the 'bot-token' feature; release 1.0.0 does not have it")
               for p in problems)
    rewrite(registry_file, guarded.replace('widget_version = "1.0.0"', 'widget_version = "1.2.0"', 1))
    proxy.post(ENDPOINT, json={"agent_id": "agent_shop"}, headers={"Origin": SHOP})
    assert proxy.get("/api/ready").json()["checks"]["registry"] == "ok"
