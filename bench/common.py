"""What every benchmark shares: timing, medians, the machine's description, tables and JSON."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import socket
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    """Where and when the figures were taken, and how busy the machine was meanwhile."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "_sampler": _Sampler(),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "load_before": _loadavg(),
        "other_pytest_processes": _other_pytests(),
    }


def finish_machine(info: dict) -> dict:
    info["load_after"] = _loadavg()
    info["during"] = info.pop("_sampler").stop()
    return info


class _Sampler:
    """The 1-minute load average and other pytest processes, every few seconds of a benchmark."""

    def __init__(self, every: float = 5.0) -> None:
        self._samples: list[tuple[float, int]] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every,), daemon=True)
        self._thread.start()

    def _run(self, every: float) -> None:
        while not self._done.wait(every):
            self._samples.append(((_loadavg() or [0.0])[0], _other_pytests()))

    def stop(self) -> dict:
        self._done.set()
        self._thread.join(10)
        loads = [s[0] for s in self._samples] or (_loadavg() or [0.0])[:1]
        others = [s[1] for s in self._samples] or [_other_pytests()]
        return {"samples": len(self._samples), "load1_mean": round(sum(loads) / len(loads), 2),
                "load1_max": max(loads), "other_pytest_max": max(others)}


def _loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def _other_pytests() -> int:
    """pytest processes that are neither ours nor our children's: a sign someone else loads the machine."""
    try:
        out = subprocess.run(["ps", "-eo", "pid=,ppid=,args="], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return -1
    parents, pytests = {}, []
    for line in out.splitlines():
        pid, ppid, *args = line.split(None, 2)
        parents[int(pid)] = int(ppid)
        if args and "pytest" in args[0]:
            pytests.append(int(pid))
    mine = {os.getpid(), os.getppid()}

    def ours(pid: int) -> bool:
        for _ in range(64):  # up the process tree; depth-bounded against a cycle
            if pid in mine:
                return True
            if pid not in parents or pid <= 1:
                return False
            pid = parents[pid]
        return False

    return sum(1 for pid in pytests if not ours(pid))


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def repeat(run: Callable[[], object], runs: int, before: Callable[[], object] | None = None) -> list[float]:
    """Seconds of ``runs`` calls of ``run``; ``before`` (untimed) prepares each one."""
    times = []
    for _ in range(runs):
        if before is not None:
            before()
        times.append(timed(run))
    return times


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0, process: subprocess.Popen | None = None) -> None:
    """Until something accepts connections on 127.0.0.1:port (or the process died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)  # polling a port that is not open yet; nothing to wait on instead
    raise RuntimeError(f"nothing listened on 127.0.0.1:{port} within {timeout:g}s")


def stop(process: subprocess.Popen, timeout: float = 10.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()
              for row in cells]
    return "\n".join(lines)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}" if value < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if not numerator or not denominator:
        return None
    return round(numerator / denominator, 2)


def write_results(name: str, data: dict, smoke: bool, out: Path | None = None) -> Path:
    """bench/results/<name>.json; a smoke run writes <name>.smoke.json so it never replaces figures."""
    folder = out or RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}{'.smoke' if smoke else ''}.json"
    data = {"benchmark": name, "smoke": smoke, **data}
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path
