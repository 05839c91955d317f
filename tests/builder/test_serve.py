import contextlib
import html
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from builder.__main__ import main
from builder.livereload import inject
from tests.conftest import REPO


class ServeProcess:
    """``python -m builder serve`` as a real process; its output is collected as it comes."""

    def __init__(self, root: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "builder", "serve", "--port", "0",
             "--src", str(root / "site_src"), "--widget", str(root / "widget")],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            # A SIGABRT then prints every thread's stack: what a hung stop was waiting on.
            env={**os.environ, "PYTHONFAULTHANDLER": "1"},
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.url = self.wait_for(r"serving (http://127\.0\.0\.1:\d+)/")[1]

    def _read(self) -> None:
        for line in self.process.stdout:  # type: ignore[union-attr]
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self.lines.append("<exit>")
            self._changed.notify_all()

    def wait_for(self, pattern: str, after: int = 0, timeout: float = 30) -> re.Match[str]:
        """The first output line from index ``after`` on that matches ``pattern``."""
        found: list[re.Match[str]] = []

        def match() -> bool:
            found[:] = [m for line in self.lines[after:] if (m := re.search(pattern, line))][:1]
            return bool(found) or "<exit>" in self.lines

        with self._changed:
            self._changed.wait_for(match, timeout)
        assert found, f"no line matching {pattern!r} in:\n" + "".join(self.lines)
        return found[0]

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            # Aborted, so that faulthandler prints where every thread was waiting, and reaped here,
            # so that the failure stays this test's (an unreaped process warns in whichever test
            # the garbage collector runs next).
            self.process.send_signal(signal.SIGABRT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self._reader.join(10)
            raise AssertionError("builder serve did not stop within 30 s of Ctrl-C; its output, then "
                                 "its threads' stacks:\n" + "".join(self.lines[-80:])) from None
        finally:
            self._reader.join(10)
            self.process.stdout.close()  # type: ignore[union-attr]


@contextlib.contextmanager
def serving(root: Path) -> Iterator[ServeProcess]:
    serve = ServeProcess(root)
    try:
        yield serve
    finally:
        if serve.process.returncode is None:
            serve.stop()


def states(url: str) -> Iterator[dict]:
    """The live-reload stream's states, as an open page receives them."""
    with httpx.stream("GET", f"{url}/__livereload", timeout=30) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        event = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == "state":
                yield json.loads(line.removeprefix("data: "))


def with_page(root: Path) -> Path:
    """Add a docs page of the tests' own (so they don't depend on the real pages' wording); return its source."""
    page = root / "site_src/docs/live-reload.md"
    page.write_text("title: Live reload test\norder: 99\n\n# Live reload test\n\nThe marker says original.\n")
    return page


def edit(path: Path, old: str, new: str) -> None:
    """Save as editors do, in one step: the watcher never reads a half-written page (a plain
    write_text truncates first, and a rebuild between the two saw an empty file)."""
    text = path.read_text()
    assert old in text
    part = path.with_name(f".{path.name}.part")
    part.write_text(text.replace(old, new))
    os.replace(part, path)


def test_inject_puts_the_script_before_the_closing_body_tag():
    page = inject(b"<html><body><p>hi</p></BODY></html>", 7)
    assert page == (b'<html><body><p>hi</p><script src="/__livereload.js" data-generation="7"></script>\n'
                    b"</BODY></html>")
    assert inject(b"<p>fragment</p>", 1).endswith(b'data-generation="1"></script>\n')


def test_serves_the_build_with_local_urls_and_injects_the_script_into_pages(site_factory):
    root = site_factory()
    with_page(root)
    with serving(root) as serve:
        page = httpx.get(f"{serve.url}/docs/live-reload/")
        assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
        assert "The marker says original." in page.text
        assert '<script src="/__livereload.js" data-generation="1"></script>\n</body>' in page.text
        assert int(page.headers["content-length"]) == len(page.content)
        head = httpx.head(f"{serve.url}/docs/live-reload/")
        assert int(head.headers["content-length"]) == len(page.content)
        # Assets are served as built: the script goes into HTML responses only.
        built_into = Path(serve.wait_for(r"building into (\S+)")[1])
        asset = httpx.get(f"{serve.url}/cdn/v1.0.0/retell-widget.js")
        assert asset.content == (built_into / "site/cdn/v1.0.0/retell-widget.js").read_bytes()
        # The script is added on the way out; the built page itself is what build would write.
        assert "__livereload" not in (built_into / "site/docs/live-reload/index.html").read_text()
        demo = httpx.get(f"{serve.url}/clients/client-a/").text
        assert f'src="{serve.url}/cdn/v1.0.0/retell-widget.js"' in demo
        assert httpx.get(f"{serve.url}/").headers["location"] == "/docs/"
        assert httpx.get(f"{serve.url}/__livereload.js").headers["content-type"].startswith("text/javascript")
        assert built_into.is_dir() and not built_into.is_relative_to(root)
    assert not built_into.exists()
    assert not (root / "dist").exists()


def test_rebuilds_on_change_and_keeps_the_last_good_build_on_failure(site_factory):
    root = site_factory()
    doc = with_page(root)
    with serving(root) as serve:
        stream = states(serve.url)
        assert next(stream) == {"generation": 1, "errors": []}

        edit(doc, "says original", "says edited")
        assert next(stream) == {"generation": 2, "errors": []}
        assert "The marker says edited." in httpx.get(f"{serve.url}/docs/live-reload/").text
        serve.wait_for(r"rebuilt in [\d.]+s after a change to .*live-reload\.md")

        # A burst of changes settles into far fewer rebuilds than files.
        for n in range(12):
            (root / f"site_src/docs/extra-{n}.md").write_text(f"title: Extra {n}\n\n# Extra {n}\n")
        generation = next(stream)["generation"]
        while not httpx.get(f"{serve.url}/docs/extra-11/").is_success:
            generation = next(stream)["generation"]
        assert 3 <= generation <= 5
        assert all(httpx.get(f"{serve.url}/docs/extra-{n}/").is_success for n in range(12))

        marker = len(serve.lines)
        (root / "site_src/docs/Bad Name.md").write_text("# Bad\n")
        edit(doc, "says edited", "says broken")
        state = next(stream)
        assert state["generation"] == generation and len(state["errors"]) == 1
        assert re.match(r".*Bad Name\.md:1: ", state["errors"][0])
        serve.wait_for(r"Bad Name\.md:1: ", after=marker)
        serve.wait_for(r"build failed: 1 error\(s\); still serving the last good build", after=marker)
        assert "The marker says edited." in httpx.get(f"{serve.url}/docs/live-reload/").text

        (root / "site_src/docs/Bad Name.md").unlink()
        # The two edits above may have come as two batches, so two failed rebuilds.
        assert next(s for s in stream if not s["errors"]) == {"generation": generation + 1, "errors": []}
        assert "The marker says broken." in httpx.get(f"{serve.url}/docs/live-reload/").text


def test_a_failed_first_build_serves_its_errors_until_fixed(site_factory):
    root = site_factory()
    edit(root / "site_src/site.toml", 'name = "Retell Widget"', 'name = ""')
    with serving(root) as serve:
        serve.wait_for(r"build failed: 1 error\(s\); no good build to serve yet")
        stream = states(serve.url)
        state = next(stream)
        assert state["generation"] == 0 and re.match(r".*site\.toml.*\bname\b", state["errors"][0])
        page = httpx.get(f"{serve.url}/docs/")
        assert page.status_code == 503 and html.escape(state["errors"][0]) in page.text
        assert 'data-generation="0"' in page.text

        edit(root / "site_src/site.toml", 'name = ""', 'name = "Fixed"')
        assert next(stream) == {"generation": 1, "errors": []}
        assert "Fixed docs" in httpx.get(f"{serve.url}/docs/").text


def test_ctrl_c_with_an_open_page_stops_cleanly(site_factory):
    with serving(site_factory()) as serve:
        stream = states(serve.url)
        assert next(stream)["generation"] == 1
        assert serve.stop() == 0
        serve.wait_for("^stopped$")
        # The server ended the page's stream rather than leaving it hanging.
        assert list(stream) == []


def test_serve_rejects_a_missing_source_folder(tmp_path, capsys):
    assert main(["serve", "--src", str(tmp_path / "nope"), "--widget", str(tmp_path)]) == 2
    assert f"error: --src {tmp_path / 'nope'}: no such folder" in capsys.readouterr().err


def test_serve_reports_a_busy_port(site_factory, capsys):
    root = site_factory()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port), "--src", str(root / "site_src"),
                     "--widget", str(root / "widget")]) == 2
    assert f"error: cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["serve", "--port", "x"], "invalid int value: 'x'"),
    (["serve", "--set", "novalue"], "--set takes KEY=VALUE"),
])
def test_serve_rejects_bad_arguments(argv, message, capsys):
    with contextlib.suppress(SystemExit):
        assert main(argv) == 2
    assert message in capsys.readouterr().err
