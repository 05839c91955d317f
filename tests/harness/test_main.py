import subprocess
import sys

from tests.conftest import REPO


def test_a_missing_registry_is_a_clear_error(tmp_path):
    (tmp_path / "site_src").mkdir()
    result = subprocess.run([sys.executable, "-m", "harness", "--src", str(tmp_path / "site_src")],
                            cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "clients.toml: the client registry is missing" in result.stderr
    assert "Traceback" not in result.stderr
