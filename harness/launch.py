"""Run the sandbox as its real command line from another program (tests, benchmarks)."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from harness.state import SandboxState, load


class SandboxFailed(RuntimeError):
    """The sandbox did not start, or did not stop cleanly; the message holds its output."""


@contextlib.contextmanager
def launched(folder: Path, *args: str, cwd: Path | None = None, start_timeout: float = 60) -> Iterator[SandboxState]:
    """Run ``python -m harness --state FOLDER/state.json ARGS`` until it says it is ready; yield its
    state; then Ctrl-C it, and raise ``SandboxFailed`` unless it stopped cleanly."""
    state_file = folder / "state.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "harness", "--state", str(state_file), *args],
        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    # A watchdog, not a sleep: if the sandbox never says it is ready, end it so the read below stops.
    watchdog = threading.Timer(start_timeout, process.kill)
    watchdog.start()
    output = []
    for line in process.stdout:  # type: ignore[union-attr]
        output.append(line)
        if line.startswith("sandbox ready"):
            break
    watchdog.cancel()
    if not state_file.exists():
        process.kill()
        rest, _ = process.communicate()  # also closes the pipe
        raise SandboxFailed("the sandbox did not start:\n" + "".join(output) + rest)
    # Keep reading what it prints while it runs: a full pipe would stall a long run's sandbox.
    ready_at = len(output)
    drain = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)  # type: ignore[arg-type]
    drain.start()
    try:
        yield load(state_file)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise SandboxFailed("the sandbox did not stop within 30 s of Ctrl-C:\n" + "".join(output)) from None
        finally:
            drain.join(10)  # the pipe reaches its end as the process ends
            process.stdout.close()  # type: ignore[union-attr]
        rest = "".join(output[ready_at:])
        if process.returncode != 0 or "sandbox stopped" not in rest:
            raise SandboxFailed(f"the sandbox exited with {process.returncode}:\n" + "".join(output))
