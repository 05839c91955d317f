"""Which Chromium the tests, benchmarks and registry check launch."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import browser


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``installed(*names)``: only these of Debian's two Chromium binaries exist."""
    monkeypatch.delenv("RETELL_E2E_CHROMIUM", raising=False)
    shell, full = tmp_path / "chromium-headless-shell", tmp_path / "chromium"
    monkeypatch.setattr(browser, "HEADLESS_SHELL", shell)
    monkeypatch.setattr(browser, "CHROMIUM", full)

    def install(*names: str) -> tuple[str, str]:
        for name in names:
            (tmp_path / name).touch()
        return str(shell), str(full)

    return install


def test_headless_runs_in_the_shell_and_a_window_needs_the_full_browser(installed):
    shell, full = installed("chromium-headless-shell", "chromium")
    assert browser.chromium_executable() == shell
    assert browser.chromium_executable(headless=False) == full


def test_without_the_shell_the_full_browser_runs_headless_too(installed):
    _, full = installed("chromium")
    assert browser.chromium_executable() == full


def test_without_debians_chromium_playwright_chooses(installed):
    shell, _ = installed("chromium-headless-shell")
    assert browser.chromium_executable(headless=False) is None  # the shell cannot show a window
    Path(shell).unlink()
    assert browser.chromium_executable() is None


def test_the_environment_overrides_both(installed, monkeypatch):
    installed("chromium-headless-shell", "chromium")
    monkeypatch.setenv("RETELL_E2E_CHROMIUM", "/opt/chrome/chrome")
    assert browser.chromium_executable() == "/opt/chrome/chrome"
    monkeypatch.setenv("RETELL_E2E_CHROMIUM", "playwright")
    assert browser.chromium_executable() is None  # Playwright's own build
