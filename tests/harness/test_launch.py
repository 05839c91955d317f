import pytest

from harness.launch import SandboxFailed, launched
from tests.conftest import REPO


def test_a_sandbox_that_cannot_start_is_reported_with_its_output(tmp_path):
    (tmp_path / "site_src").mkdir()
    with pytest.raises(SandboxFailed, match="(?s)did not start.*clients.toml:1: the client registry is missing"):
        with launched(tmp_path, "--src", str(tmp_path / "site_src"), cwd=REPO):
            pass  # pragma: no cover - never reached
