"""``python -m harness check`` finds planted breakage: the right client, the right check, in words."""

from __future__ import annotations

import re
import subprocess
import sys

import httpx
import pytest

from harness.check import FAIL, NOT_APPLICABLE, PASS, SKIPPED, CheckConfig, CheckError, junit, prepare, run, table
from harness.selection import Shard, shard_of
from harness.state import SandboxState
from tests.conftest import REPO, once_per_run, run_async

pytestmark = pytest.mark.e2e

CLIENT = '''[[client]]
id = "{id}"
name = "{name}"
origins = ["https://{id}.example"]
agents = [{agents}]
theme = "blue"
position = "bottom-right"
widget_version = "{version}"
brand_color = "#123456"
{extra}'''
# One healthy client, and one for each planted breakage. Each broken client but one shares its
# widget configuration (release, theme, position) with a healthy twin, so the configuration's browser
# call passes on the twin's page: the breakage must be caught by the broken client's own checks.
# The run checks shard 1 of 2, as one CI job of a matrix would: the ids are chosen so that every
# client falls in it (harness.selection.shard_of) except twin-alone-1, the only twin of "alone".
CLIENTS = "\n".join(CLIENT.format(**{"extra": ""} | c) for c in [
    # On the current release, with a bot check: its calls pass Turnstile's (the sandbox's fake).
    # It also fixes a variable and its agent's version, lets pages send one variable, and asks consent.
    {"id": "healthy", "name": "Healthy", "agents": '"agent_healthy"', "version": "2.5.0",
     "extra": 'bot_check = "turnstile"\nbot_site_key = "0x4AAAAAAAhealthy"\n'
              'variables = { client_name = "Healthy" }\nagent_versions = { agent_healthy = 2 }\n'
              'page_variables = ["page_path"]\nconsent = { text = "We record calls.", url = "https://healthy.example/privacy" }\n'},
    {"id": "tampered-1", "name": "Tampered", "agents": '"agent_tampered"', "version": "1.0.0"},
    {"id": "twin-tampered-1", "name": "Twin of Tampered", "agents": '"agent_twin_tampered"', "version": "1.0.0"},
    {"id": "unlisted", "name": "Unlisted", "agents": '"agent_unlisted"', "version": "1.1.0"},
    {"id": "stranger", "name": "Stranger", "agents": '"agent_stranger", "agent_known"', "version": "1.1.0"},
    {"id": "twin-stranger", "name": "Twin of Stranger", "agents": '"agent_twin_stranger"', "version": "1.1.0"},
    {"id": "silent-1", "name": "Silent", "agents": '"agent_silent"', "version": "1.1.0"},
    {"id": "twin-silent", "name": "Twin of Stranger, Silent and Unlisted", "agents": '"agent_twin_silent"', "version": "1.1.0"},
    # Cannot reach media either, and its healthy twin is in the other shard: nothing in this shard
    # shares its configuration.
    {"id": "alone", "name": "Alone", "agents": '"agent_alone"', "version": "2.2.0"},
    {"id": "twin-alone-1", "name": "Twin of Alone", "agents": '"agent_twin_alone"', "version": "2.2.0"},
])
SHARD = Shard(1, 2)
PLANTED = {
    # the archived 1.0.0 as a compromised CDN serves it: every client pinning it fails on its own page
    "cdn": {"tamper": "v1.0.0/"},
    "registry": {"unlisted": ["unlisted"]},       # the proxy's registry lacks this client's origin
    "agents": {"agent_stranger": "unknown",       # Retell does not know this agent
               "agent_silent": "no-media",        # this agent's calls cannot reach the media server
               "agent_alone": "no-media"},
}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    return once_per_run(tmp_path_factory, "registry-check", _planted_run)


def _planted_run(root):
    root.mkdir()
    subprocess.run(["cp", "-r", str(REPO / "site_src"), str(REPO / "widget"), str(root)], check=True)
    (root / "site_src" / "clients.toml").write_text(CLIENTS)

    def plant(state: SandboxState) -> None:
        response = httpx.post(state.local("control") + "/faults", json=PLANTED, timeout=10)
        assert response.status_code == 200, response.text

    config = CheckConfig(src=root / "site_src", widget=root / "widget", jobs=2, out=root / "results", shard=SHARD)
    return run(config, on_ready=plant), config


def outcomes(report, client_id: str) -> dict[str, str]:
    (client,) = [c for c in report.clients if c.id == client_id]
    return {name: outcome.status for name, outcome in client.checks.items()}


def reasons(report, client_id: str) -> dict[str, str]:
    (client,) = [c for c in report.clients if c.id == client_id]
    return {name: f"{outcome.status} {outcome.reason}" for name, outcome in client.checks.items()}


def reason(report, client_id: str, check: str) -> str:
    (client,) = [c for c in report.clients if c.id == client_id]
    return client.checks[check].reason


def test_a_healthy_client_passes_every_check(report):
    report, _ = report
    assert outcomes(report, "healthy") == {"page": PASS, "a11y": PASS, "calls": PASS, "config": PASS, "hostile": PASS,
                                           "csp": PASS, "bot": PASS}
    # The fake Turnstile takes any site key, and the pass says so.
    assert "cannot tell whether bot_site_key '0x4AAAAAAAhealthy' is right" in reason(report, "healthy", "bot")
    # The twins share a configuration with broken clients, and pass: a configuration's call runs on
    # the page of a client whose own checks passed.
    for twin in ("twin-stranger", "twin-silent"):
        assert set(outcomes(report, twin).values()) <= {PASS, NOT_APPLICABLE}, reasons(report, twin)
    assert not report.passed  # the planted ones fail


def test_a_tampered_archived_release_fails_the_page_check_of_every_client_pinning_it(report):
    report, config = report
    for client in ("tampered-1", "twin-tampered-1"):
        assert outcomes(report, client)["page"] == FAIL
        said = reason(report, client, "page")
        assert said.startswith("the browser refused /v1.0.0/retell-widget.js: its bytes do not match") and "(SRI)" in said
        assert "Failed to find a valid digest in the 'integrity' attribute" in said  # the console's own words
        # What needs the widget is not run, so the one cause is reported once.
        assert {outcomes(report, client)[c] for c in ("a11y", "calls")} == {SKIPPED}
        assert (config.out / client / "page" / "trace.zip").is_file()
        assert (config.out / client / "page" / "screenshot.png").is_file()
    assert outcomes(report, "tampered-1")["hostile"] == PASS  # the proxy's side does not need the page


def test_a_client_whose_origin_the_proxy_refuses_fails_its_calls_beside_a_healthy_twin(report):
    report, _ = report
    checks = outcomes(report, "unlisted")
    assert checks["page"] == PASS and checks["a11y"] == PASS and checks["hostile"] == PASS
    assert checks["csp"] == NOT_APPLICABLE  # a v1 client
    assert checks["calls"] == FAIL
    assert reason(report, "unlisted", "calls").startswith("the proxy refused the preflight from http://unlisted.localhost:")
    assert "origin_not_allowed" in reason(report, "unlisted", "calls")


def test_an_agent_retell_does_not_know_fails_its_client_and_is_named(report):
    report, _ = report
    assert outcomes(report, "stranger")["calls"] == FAIL
    said = reason(report, "stranger", "calls")
    assert said.startswith("agent agent_stranger: the proxy minted no token for http://stranger.localhost:"), said
    assert outcomes(report, "stranger")["csp"] == NOT_APPLICABLE  # a v1 client
    assert outcomes(report, "twin-stranger")["calls"] == PASS, reasons(report, "twin-stranger")


def test_a_client_that_cannot_reach_the_media_server_fails_its_calls(report):
    report, _ = report
    checks = outcomes(report, "silent-1")
    assert checks["page"] == PASS and checks["calls"] == FAIL
    assert reason(report, "silent-1", "calls") == "agent agent_silent: the media server refused its token: 503 media server unreachable"


def test_a_shard_checks_its_own_clients_and_a_breakage_alone_in_it_still_fails(report):
    report, _ = report
    assert {c.id for c in report.clients} == {c for c in ids() if shard_of(c, 2) == 1} == set(ids()) - {"twin-alone-1"}
    checks = outcomes(report, "alone")
    assert checks["page"] == PASS and checks["calls"] == FAIL
    assert reason(report, "alone", "calls") == "agent agent_alone: the media server refused its token: 503 media server unreachable"
    # No client of its configuration passed its own checks in this shard: the browser's checks are
    # not run for it and say why, and it fails on its own finding.
    assert checks["a11y"] == SKIPPED and "no client of configuration v2.2.0 blue bottom-right passed" in reason(report, "alone", "a11y")


def ids() -> list[str]:
    return re.findall(r'^id = "([^"]+)"', CLIENTS, re.M)


def test_the_table_and_junit_name_each_failure(report):
    report, _ = report
    text = table(report)
    assert "tampered-1 page: the browser refused /v1.0.0/retell-widget.js" in text and "3 of 9 clients passed every check" in text
    xml = junit(report)
    assert xml.count("<testcase ") == 63 and 'classname="clients.stranger" name="calls"' in xml
    assert "<failure message=" in xml and "<skipped message=" in xml
    assert "healthy bot: note: the sandbox's fake Turnstile accepts any site key" in text and "<system-out>note: " in xml


def test_a_broken_registry_stops_before_any_browser(tmp_path):
    subprocess.run(["cp", "-r", str(REPO / "site_src"), str(REPO / "widget"), str(tmp_path)], check=True)
    registry_path = tmp_path / "site_src" / "clients.toml"
    registry_path.write_text(registry_path.read_text().replace('theme = "blue"', 'theme = "neon"'))
    with pytest.raises(CheckError) as info:
        prepare(CheckConfig(src=tmp_path / "site_src", widget=tmp_path / "widget"))
    assert any(e.startswith(f"{registry_path}:") and "'theme' must be one of" in e for e in info.value.errors)
    result = subprocess.run([sys.executable, "-m", "harness", "check", "--src", str(tmp_path / "site_src"),
                             "--widget", str(tmp_path / "widget")], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "check stopped before any browser started: 1 error(s)" in result.stderr


def test_an_unknown_client_is_refused(tmp_path):
    with pytest.raises(CheckError, match="--client nobody: no such client"):
        prepare(CheckConfig(src=REPO / "site_src", widget=REPO / "widget", clients=("nobody",)))


def test_a_build_error_stops_before_any_browser(tmp_path):
    subprocess.run(["cp", "-r", str(REPO / "site_src"), str(REPO / "widget"), str(tmp_path)], check=True)
    (tmp_path / "site_src" / "docs" / "getting-started.md").write_text("title: Start\n\nSee [nowhere](nowhere.md).\n")
    with pytest.raises(CheckError) as info:
        prepare(CheckConfig(src=tmp_path / "site_src", widget=tmp_path / "widget"))
    assert any("nowhere" in e for e in info.value.errors)



@pytest.mark.parametrize("jobs", ["-1", "33"])
def test_a_jobs_count_out_of_range_is_refused(jobs):
    result = subprocess.run([sys.executable, "-m", "harness", "check", "--jobs", jobs], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"--jobs {jobs} must be from 1 to 32 (0: the default)" in result.stderr


@pytest.mark.parametrize("record, said", [
    ({"retell_llm_dynamic_variables": {"client_name": "Other"}, "metadata": {"client_id": "c"}, "agent_version": 2},
     "created without the client's fixed variables: {'client_name': 'Other'}"),
    ({"retell_llm_dynamic_variables": {"client_name": "Mine"}, "agent_version": 2},
     "does not name the client in its metadata"),
    ({"retell_llm_dynamic_variables": {"client_name": "Mine"}, "metadata": {"client_id": "c"}, "agent_version": 0},
     "runs agent version 0, not 2"),
])
def test_a_call_without_the_clients_configuration_fails_its_calls_check(tmp_path, record, said):
    from harness.check import _configured, _Failed
    from registry import load

    (tmp_path / "clients.toml").write_text(CLIENT.format(
        id="c", name="C", agents='"agent_c"', version="2.2.0",
        extra='variables = { client_name = "Mine" }\nagent_versions = { agent_c = 2 }\n'))
    (client,) = load(tmp_path / "clients.toml").clients
    with pytest.raises(_Failed, match=re.escape(said)):
        run_async(_configured(None, record, client, "agent_c"))  # type: ignore[arg-type]  # no tag: no records asked
