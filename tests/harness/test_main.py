import subprocess
import sys

import pytest

from tests.conftest import REPO


def test_a_missing_registry_is_a_clear_error(tmp_path):
    (tmp_path / "site_src").mkdir()
    result = subprocess.run([sys.executable, "-m", "harness", "--src", str(tmp_path / "site_src")],
                            cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "clients.toml:1: the client registry is missing" in result.stderr
    assert "Traceback" not in result.stderr



def test_a_script_the_sandbox_cannot_use_stops_it_with_every_problem(tmp_path):
    agents = tmp_path / "agents.toml"
    agents.write_text('[agent.agent_nobody]\ngreeting = "Hi"\n\n[agent.agent_nobody_else]\nmax_call_duration_ms = 5\n')
    result = subprocess.run([sys.executable, "-m", "harness", "--agents", str(agents)], cwd=REPO, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"{agents}:1: agent 'agent_nobody' is not an agent of any client in the registry",
        f"{agents}:4: agent 'agent_nobody_else' is not an agent of any client in the registry",
        f"{agents}:5: 'max_call_duration_ms' must be whole milliseconds from 1000 to 86400000, not 5",
    ]


@pytest.mark.parametrize("args, message", [
    (["--domain", "Evil Domain"], "--domain 'Evil Domain' is not a lower-case DNS name"),
    (["--domain", "test"], "--domain test needs --https: plain http is for localhost names only"),
    (["--port-base", "70000"], "--port-base 70000 must be 0 (free ports) or from 1024 to 65000"),
    (["--port-base", "80"], "must be 0 (free ports) or from 1024 to 65000"),
    (["--upstream-timeout", "0"], "--upstream-timeout 0 must be from 0.1 to 120 seconds"),
    (["--upstream-timeout", "nan"], "--upstream-timeout nan must be from 0.1 to 120 seconds"),
])
def test_bad_flags_are_refused_with_a_reason(args, message):
    result = subprocess.run([sys.executable, "-m", "harness", *args], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_a_busy_port_is_a_clear_error():
    from serving import bind

    busy = bind()
    try:
        port = busy.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "harness", "--port-base", str(port)], cwd=REPO,
                                capture_output=True, text=True, timeout=60)
    finally:
        busy.close()
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port} for the cdn origin" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("shard, message", [
    ("0/3", "--shard 0/3: K must be from 1 to N (the shards are 1/3 to 3/3)"),
    ("4/3", "--shard 4/3: K must be from 1 to N (the shards are 1/3 to 3/3)"),
    ("x", "--shard x: expected K/N, shard K of N, e.g. 2/4"),
    ("1/0", "--shard 1/0: N must be from 1 to 1024"),
])
def test_a_bad_shard_is_refused_before_any_build_with_every_other_problem(shard, message):
    result = subprocess.run([sys.executable, "-m", "harness", "check", "--shard", shard, "--jobs", "40"], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-2:] == [
        "python -m harness check: error: --jobs 40 must be from 1 to 32 (0: the default)", message]


def test_an_unknown_ref_is_refused_before_any_build():
    result = subprocess.run([sys.executable, "-m", "harness", "check", "--changed-since", "no-such-ref-25"], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"--changed-since no-such-ref-25: no such commit, branch or tag in {REPO} (in CI, fetch it first: git fetch origin main)",
        "check stopped before any browser started: 1 error(s)"]
