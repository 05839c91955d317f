"""Each benchmark's --smoke run: the tooling works end to end and writes the JSON the README uses.

Smoke runs use tiny sizes and write into tmp_path, never over bench/results/. A part that needs
something a fresh machine may lack (wrk, the Express packages, Chromium) is skipped with the
reason, or left out of the run with its own flag.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MACHINE_KEYS = {"date", "nproc", "cpu", "load_before", "load_after", "other_pytest_processes", "during"}


def _run(module: str, results: Path, *flags: str, timeout: float = 60) -> dict:
    done = subprocess.run([sys.executable, "-m", module, "--smoke", "--results", str(results), *flags],
                          cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    name = module.split(".")[-1]
    data = json.loads((results / f"{name}.smoke.json").read_text())
    assert data["benchmark"] == name and data["smoke"] is True
    assert MACHINE_KEYS <= set(data["machine"])
    assert "wrote" in done.stdout  # the table was printed, then the file named
    return data


def test_builder_smoke(tmp_path: Path) -> None:
    mkdocs = (REPO / "bench" / ".venv-mkdocs" / "bin" / "mkdocs").exists()
    data = _run("bench.builder", tmp_path, *([] if mkdocs else ["--no-mkdocs"]))
    cases = {row["case"]: row for row in data["rows"]}
    assert {"cold", "cli_unchanged", "unchanged", "one_page", "one_client"} <= set(cases)
    assert all(row["median_s"] > 0 and row["runs_s"] for row in cases.values())
    assert ("mkdocs_cold" in cases) == mkdocs
    assert set(data["verdicts"]) == {"cold_vs_mkdocs", "unchanged", "one_change"}
    assert data["output"]["files"] > 0
    publish = {row["case"]: row["median_s"] for row in data["publish_rollback"]}
    assert set(publish) == {"publish_first", "publish_one_page", "rollback", "rollback_process"}
    assert all(seconds > 0 for seconds in publish.values())


def test_proxy_smoke(tmp_path: Path) -> None:
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (apt-get install wrk)")
    express = shutil.which("node") is not None and (REPO / "bench/express/node_modules/express-rate-limit").is_dir()
    data = _run("bench.proxy", tmp_path, "--duration", "1", *([] if express else ["--no-express"]))
    cases = {row["case"]: row for row in data["rows"]}
    assert {"ours", "ours_no_usage"} <= set(cases)
    assert ("express" in cases) == express
    assert ("ours_redis" in cases) == (shutil.which("redis-server") is not None)
    if "ours_redis" in cases:
        shared = data["redis_vs_memory"]
        assert shared["ratio"] > 0 and shared["target"] == 0.9 and isinstance(shared["met"], bool)
    for row in cases.values():
        assert row["rps"] > 0 and row["p50_ms"] > 0 and row["p99_ms"] >= row["p50_ms"]
        assert row["errors"] == 0, row  # every request was a successful create
    assert (data["verdict"] is None) == (not express)


def test_abuse_smoke(tmp_path: Path) -> None:
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (apt-get install wrk)")
    data = _run("bench.abuse", tmp_path)
    phases = {row["phase"]: row for row in data["rows"]}
    assert set(phases) == {"unloaded", "bot flood", "origin flood"}
    for row in phases.values():
        assert row["visitor_requests"] > 0 and row["visitor_statuses"] == [201]  # every visitor served
        assert row["visitor_p99_ms"] >= row["visitor_p50_ms"] > 0 and isinstance(row["meets_goal"], bool)
    # The flood's bogus tokens reached the provider only while its IP had budget (20 a minute).
    assert phases["bot flood"]["flood_requests"] > 20 and phases["bot flood"]["siteverify_calls"] <= 20
    assert phases["origin flood"]["siteverify_calls"] == 0
    assert phases["bot flood"]["usage_rows_added"] < phases["bot flood"]["flood_requests"]


def _browser_missing() -> str | None:
    import importlib.util
    import os

    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install -e '.[test]')"
    from harness.browser import chromium_executable

    if not os.environ.get("RETELL_E2E_CHROMIUM") and chromium_executable() is None:
        return "no Chromium at /usr/bin/chromium-headless-shell or /usr/bin/chromium and RETELL_E2E_CHROMIUM is not set"
    return None


def test_widget_smoke(tmp_path: Path) -> None:
    if reason := _browser_missing():
        pytest.skip(reason)
    data = _run("bench.widget", tmp_path)
    cases = {row["case"]: row for row in data["rows"]}
    assert set(cases) == {"latest"}  # the smoke run visits the newest line only
    for row in cases.values():
        assert row["requests"] >= 1 and row["gzip_bytes"] > 0 and row["transferred_bytes"] > 0
        assert row["script_to_button_ms"] > 0 and isinstance(row["meets_target"], bool)
        # A real call per visit: Retell's SDK fetched on intent, never before.
        assert row["sdk_gzip_bytes"] > 100_000 and row["sdk_before_intent"] is False
        assert 0 < row["click_to_in_call_ms"] <= row["click_to_agent_audio_ms"]
        assert row["cold_click_to_in_call_ms"] > 0
    assert {p["case"] for p in data["peers"]} == {"elevenlabs", "vapi", "retell_sdk", "guide"}
    # One transcript update with a long history kept (the full run has 200 utterances).
    update = data["update"]
    assert update["lines_shown"] == update["utterances"] + 1 and 0 < update["median_ms"] and update["rewrite_all_ms"] > 0
    assert data["conversation"] is None  # the smoke run holds no conversation


def test_check_smoke(tmp_path: Path) -> None:
    if reason := _browser_missing():
        pytest.skip(reason)
    data = _run("bench.check", tmp_path, timeout=180)
    assert data["registry_clients"] == 5 and data["sample"] == 1
    (row,) = data["rows"]
    assert row["jobs"] == 1 and row["clients"] == 1 and row["failed"] == []
    assert row["clients_per_s"] > 0 and row["checking_s"] < row["total_s"]
    rss = row["sandbox_rss_mb"]
    assert 0 < rss["start"] <= rss["peak"] and rss["samples"] > 1
    assert all(row["cpu_s_per_client"][part] >= 0 for part in ("sandbox", "browser", "checker"))
    # The share of the machine in use: /proc/stat's counters over the same span as the clock, so at
    # most every core (a tick's rounding apart), however loaded the machine is.
    assert row["cpu_s_per_client"]["browser"] > 0 and 0 < row["machine_busy"] <= 1.02
    assert isinstance(data["meets_goal"], bool)


def test_e2e_smoke(tmp_path: Path) -> None:
    data = _run("bench.e2e", tmp_path)  # one small module: no browser needed
    (row,) = data["rows"]
    assert row["tests"] >= 1 and row["median_s"] > 0 and isinstance(row["all_green"], bool)
    assert len(data["runs"]) == 1 and "seconds" in data["runs"][0]
