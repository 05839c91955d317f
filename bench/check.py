"""Registry-check benchmark: ``python -m harness check`` on a synthetic registry of 1,000 clients.

``python -m bench.check`` writes the builder benchmark's synthetic site (``bench.gen_site``: 1,000
clients, each with its own origin and agent, on v1 releases), then for each ``--jobs`` (default 2)
runs the registry check on every client (or on ``--sample`` of them, every Nth, so the sample
spans the registry) against a sandbox serving all of them. Every check runs as in CI: per client,
the page with SRI in the browser, the proxy's preflight, a token per agent joined on the media
server, the registry's fields, the hostile copy refused; per widget configuration, axe, a full
call in the browser with the greeting heard and the hang-up recorded.

Reported per ``--jobs``: the build and the sandbox's start-up apart from the checking; clients
checked per second over the checking phase, in its steady state (from 10% to 90% of the clients
checked by their own checks) and in each tenth of it (flat unless something grows with the run);
the sandbox's resident memory at the start, its peak and at the end; CPU seconds per client by
process, read from /proc every 0.5 s: each kind of Chromium process (renderer, browser, GPU,
network...), Playwright's driver, the sandbox (one Python process) and the checker (this
process); and how busy the whole machine was, which others may share. The part with most CPU
seconds per client is the bottleneck when the machine is saturated; when it is not, the time goes
to waiting. Three clients spread through the registry get planted breakage (an origin the proxy
refuses, an agent Retell does not know, an agent whose calls cannot reach media), and the run
says whether exactly those were found. Last, ``python -m harness check --changed-since HEAD``
after renaming one client is timed end to end in a fresh process (not in ``--smoke``).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench import common
from bench.gen_site import SiteSize, generate, touch_client
from harness.check import FAIL, CheckConfig, run
from harness.state import SandboxState

CLIENTS = 1000
JOBS = (2,)
GOAL = 5.0  # clients per second
CHANGED_GOAL = 30.0  # seconds, end to end, for a one-client edit with --changed-since
_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


class _Watch:
    """The sandbox's RSS (every 0.2 s) and CPU seconds, read from /proc while it runs."""

    def __init__(self) -> None:
        self.rss: list[int] = []
        self.cpu = 0.0  # its CPU seconds so far
        self.cpu_at_start = 0.0
        self._pid: int | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self, pid: int) -> None:
        self._pid = pid
        self._read()
        self.cpu_at_start = self.cpu
        self._thread.start()

    def _read(self) -> None:
        try:
            with open(f"/proc/{self._pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            return  # it has ended; keep the last reading
        self.cpu = (int(fields[11]) + int(fields[12])) / _TICK
        if fields[0] != "Z":  # an ended process not yet reaped has no memory left to read
            self.rss.append(int(fields[21]) * _PAGE)

    def _run(self) -> None:
        while not self._done.wait(0.2):
            self._read()

    def stop(self) -> None:
        self._read()
        self._done.set()
        if self._thread.is_alive():
            self._thread.join(5)


class _Tree:
    """CPU seconds by kind of process (Chromium's by its ``--type``, Playwright's driver, the
    sandbox) for every process under this one, read from /proc every 0.5 s between ``start`` and
    ``stop``. The pages' renderers live for 100 checks each, so little ends between two reads."""

    def __init__(self) -> None:
        self._seen: dict[int, list] = {}  # pid -> [kind, CPU at first reading (0 if born since), last CPU]
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = False

    @staticmethod
    def _stats() -> dict[int, tuple[int, float]]:
        found = {}
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    with open(f"/proc/{name}/stat") as stat:
                        fields = stat.read().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                found[int(name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK)
        return found

    @staticmethod
    def _kind(pid: int) -> str | None:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as file:
                words = file.read().replace(b"\0", b" ").decode("utf-8", "replace").split()
        except OSError:
            return None
        if not words:
            return None
        args = dict(w[2:].split("=", 1) for w in words if w.startswith("--") and "=" in w)
        if "chromium" in words[0] or "chrome" in words[0]:
            kind = args.get("type", "browser")
            return f"chromium {kind}" + (f" {args.get('utility-sub-type', '').rsplit('.', 1)[-1]}" if kind == "utility" else "")
        if words[0].endswith("/node"):
            return "playwright driver"
        if "harness" in words and "--state" in words:
            return "sandbox"
        return Path(words[0]).name

    def _read(self, first: bool = False) -> None:
        stats, tree, me = self._stats(), {os.getpid()}, os.getpid()
        for _ in range(8):  # parents before children, whatever the order of /proc
            tree |= {pid for pid, (parent, _) in stats.items() if parent in tree}
        for pid in tree - {me}:
            entry = self._seen.get(pid)
            if entry is None:
                entry = self._seen[pid] = [None, stats[pid][1] if first else 0.0, 0.0]
            entry[0] = self._kind(pid) or entry[0]  # a forked renderer takes its name after a moment
            entry[2] = stats[pid][1]

    def _run(self) -> None:
        while not self._done.wait(0.5):
            self._read()

    def start(self) -> None:
        self._read(first=True)
        self._thread.start()

    def stop(self) -> dict[str, float]:
        self._done.set()
        self._thread.join(5)
        totals: dict[str, float] = {}
        for kind, before, last in self._seen.values():
            totals[kind or "other"] = totals.get(kind or "other", 0.0) + last - before
        return totals


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def _machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (every process, the kernel's work included).
    Chromium's renderers come and go with each context, so per-process sums would miss them."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    return (sum(values) - values[3] - values[4]) / _TICK  # all but idle and iowait


_DONE = re.compile(r"^\W*checked (\d+)/(\d+) clients")


def _steady(times: list[tuple[float, int]], count: int) -> float | None:
    """Clients per second from 10% to 90% of them checked (their own checks): the start's
    ramp and the last stragglers left out."""
    low, high = max(1, count // 10), max(1, count * 9 // 10)
    at = {done: moment for moment, done in times}
    if high <= low or low not in at or high not in at or at[high] <= at[low]:
        return None
    return round((high - low) / (at[high] - at[low]), 2)


def planted(sample: list[str]) -> tuple[dict, set[tuple[str, str]]]:
    """Breakage planted in three clients spread through ``sample`` (each sharing its widget
    configuration with many healthy clients), as the sandbox's control API takes it, and the
    checks that must fail: the run must find exactly these. (A refused origin fails the client's
    ``config`` check too: its creates are refused before their variables are read.)"""
    if len(sample) < 4:
        return {}, set()
    unlisted, stranger, silent = (sample[len(sample) * k // 4] for k in (1, 2, 3))
    agent = lambda client: "agent_" + client.replace("-", "_")  # noqa: E731 - bench.gen_site's naming
    faults = {"registry": {"unlisted": [unlisted]}, "agents": {agent(stranger): "unknown", agent(silent): "no-media"}}
    return faults, {(unlisted, "calls"), (unlisted, "config"), (stranger, "calls"), (silent, "calls")}


def _by_tenth(times: list[tuple[float, int]], count: int) -> list[float]:
    """Clients per second in each tenth of the clients: flat if nothing grows with the run."""
    at = {done: moment for moment, done in times}
    marks = [0] + [count * k // 10 for k in range(1, 11)]
    first = min(at.values(), default=0.0)
    at.setdefault(0, first)
    return [round((b - a) / (at[b] - at[a]), 2) if a in at and b in at and at[b] > at[a] else None
            for a, b in zip(marks, marks[1:])]


def once(site: Path, sample: list[str], jobs: int) -> dict:
    """One registry check of ``sample`` at ``jobs``, with breakage planted; its rates, memory,
    CPU split and whether exactly the planted breakage was found."""
    faults, expected = planted(sample)
    watch, tree = _Watch(), _Tree()
    at_ready: dict[str, float] = {}
    times: list[tuple[float, int]] = []

    def ready(state: SandboxState) -> None:
        # The checking phase starts here: the builds before it are not counted per client.
        at_ready["self"] = _cpu(resource.getrusage(resource.RUSAGE_SELF))
        at_ready["machine"], at_ready["wall"] = _machine_busy(), time.perf_counter()
        if faults:
            answer = httpx.post(state.local("control") + "/faults", json=faults, timeout=10)
            answer.raise_for_status()
        watch.start(state.pid)
        tree.start()

    def progress(line: str) -> None:
        found = _DONE.match(line)
        if found:
            times.append((time.perf_counter(), int(found.group(1))))

    with tempfile.TemporaryDirectory(prefix="bench-check-") as out:
        config = CheckConfig(src=site / "site_src", widget=site / "widget", clients=tuple(sample), jobs=jobs, out=Path(out))
        report = run(config, on_ready=ready, progress=progress)
        # The machine's CPU and the wall time over one span (the checks, then the browser's and
        # the sandbox's stop): the checking phase alone leaves out the stop the CPU includes.
        checked, span = _machine_busy() - at_ready["machine"], time.perf_counter() - at_ready["wall"]
    watch.stop()
    by_process = tree.stop()
    sandbox = watch.cpu - watch.cpu_at_start
    own = _cpu(resource.getrusage(resource.RUSAGE_SELF)) - at_ready["self"]
    # Chromium's processes and Playwright's driver, read from /proc (rusage of reaped children
    # missed the renderers that Playwright's driver kills without waiting for them).
    browser = sum(seconds for kind, seconds in by_process.items() if kind.startswith("chromium") or kind == "playwright driver")
    failed = [f"{c.id} {name}: {o.reason}" for c in report.clients for name, o in c.checks.items() if o.status == FAIL]
    found = {(c.id, name) for c in report.clients for name, o in c.checks.items() if o.status == FAIL}
    count = len(report.clients)
    mb = lambda n: round(n / 2**20, 1)  # noqa: E731
    rss = watch.rss or [0]
    return {
        "jobs": jobs,
        "clients": count,
        "configurations": report.configurations,
        "failed": failed,
        "planted": sorted(f"{client} {check}" for client, check in expected),
        "found_exactly_the_planted": found == expected,
        "prepare_s": round(report.prepare_seconds, 2),  # the registry's validation and a build
        "startup_s": round(report.startup_seconds, 2),  # the sandbox's build and start
        "total_s": round(report.seconds, 2),
        "checking_s": round(report.checking_seconds, 2),
        "clients_per_s": round(count / report.checking_seconds, 2) if report.checking_seconds else None,
        "steady_clients_per_s": _steady(times, count),
        "clients_per_s_by_tenth": _by_tenth(times, count),
        "per_client_s": round(report.checking_seconds / count, 3) if count else None,
        "sandbox_rss_mb": {"start": mb(rss[0]), "peak": mb(max(rss)), "end": mb(rss[-1]), "samples": len(rss),
                           # every 25th sample (5 s): flat, or climbing with the calls
                           "every_5_s": [mb(n) for n in rss[::25]]},
        # CPU seconds per checked client, in the checking phase, by process.
        "cpu_s_per_client": {name: round(seconds / count, 3) if count else None
                             for name, seconds in (("sandbox", sandbox), ("browser", browser), ("checker", own))},
        # Read from /proc by kind of process, every process under the benchmark (the checker is this
        # process); what ended between two reads is missed, so this is a floor.
        "cpu_s_per_client_by_process": {kind: round(seconds / count, 3) for kind, seconds in
                                        sorted(by_process.items(), key=lambda item: -item[1]) if count and seconds >= 0.005}
        | ({"checker (this process)": round(own / count, 3)} if count else {}),
        # The whole machine's busy CPU seconds per client (other work on the machine included).
        "machine_cpu_s_per_client": round(checked / count, 3) if count else None,
        "machine_busy": round(checked / span / (os.cpu_count() or 1), 2),  # of all cores, from the checks to the stop
    }


def changed_one(site: Path, number: int) -> dict:
    """``python -m harness check --changed-since HEAD`` after renaming one client, end to end as a
    pull request's job runs it: a fresh process, from its start (imports, the registry's
    validation, the selection from git, the build, the sandbox's own build and start) to its exit."""
    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", *args], cwd=site,
                       check=True, capture_output=True, timeout=120)

    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "the registry before the edit")
    touch_client(site, number)
    with tempfile.TemporaryDirectory(prefix="bench-check-changed-") as out:
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "harness", "check", "--src", str(site / "site_src"),
                                 "--widget", str(site / "widget"), "--changed-since", "HEAD", "--out", out],
                                cwd=common.REPO, capture_output=True, text=True, timeout=600)
        seconds = time.perf_counter() - started
    lines = result.stderr.splitlines()
    return {"edited": f"client-{number:04d}", "seconds": round(seconds, 2), "exit_status": result.returncode,
            "why": [line for line in lines if line.startswith(("client-", "everyone", "nobody"))],
            "result": (result.stdout.strip().splitlines() or [""])[-1]}


def sample_of(count: int, size: int) -> list[str]:
    """Every Nth client of ``bench.gen_site``'s registry, so the sample spans it."""
    step = max(1, count // size)
    return [f"client-{number:04d}" for number in range(1, count + 1, step)][:size]


def _print(data: dict) -> None:
    rows, best = data["rows"], data["best_clients_per_s"]
    print(f"registry check: {data['sample']} of {data['registry_clients']} clients, per client its page, origins, "
          "tokens and hostile copy; per widget configuration a full call; fresh sandbox per row")
    print(common.table(
        ["--jobs", "clients", "configs", "prepare s", "start-up s", "checking s", "clients/s", "steady clients/s",
         "sandbox RSS start/peak/end MB", "CPU s/client: sandbox", "browser", "checker", "machine", "machine busy",
         "failing"],
        [(r["jobs"], r["clients"], r["configurations"], r["prepare_s"], r["startup_s"], r["checking_s"],
          r["clients_per_s"], r["steady_clients_per_s"], "{start}/{peak}/{end}".format(**r["sandbox_rss_mb"]),
          r["cpu_s_per_client"]["sandbox"], r["cpu_s_per_client"]["browser"], r["cpu_s_per_client"]["checker"],
          r["machine_cpu_s_per_client"], f"{r['machine_busy']:.0%}", len(r["failed"])) for r in rows]))
    print(f"goal: >= {GOAL:g} clients/s: {'met' if data['meets_goal'] else 'not met'} (best {best})")
    for row in rows:
        print(f"  jobs {row['jobs']}: CPU s per client by process: "
              + ", ".join(f"{kind} {seconds}" for kind, seconds in row["cpu_s_per_client_by_process"].items()))
        print(f"  jobs {row['jobs']}: clients/s in each tenth of the run: {row['clients_per_s_by_tenth']}")
        print(f"  jobs {row['jobs']}: planted {', '.join(row['planted']) or 'nothing'}; found exactly those: "
              f"{row['found_exactly_the_planted']}")
        for line in row["failed"][:5]:
            print(f"  jobs {row['jobs']}: {line}")
    changed = data["changed_since"]
    if changed:
        print(f"--changed-since HEAD after editing {changed['edited']}: {changed['seconds']} s end to end "
              f"(goal < {CHANGED_GOAL:g} s), exit {changed['exit_status']}; {'; '.join(changed['why'])}; {changed['result']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.check", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="a 5-client registry, 1 client checked at --jobs 1")
    parser.add_argument("--clients", type=int, default=CLIENTS, help=f"clients in the registry (default {CLIENTS})")
    parser.add_argument("--sample", type=int, help="clients checked at each --jobs (default: every client)")
    parser.add_argument("--jobs", type=int, action="append", help="parallel browser pages (repeatable; default 2)")
    parser.add_argument("--results", type=Path, help="folder for the JSON (default bench/results)")
    args = parser.parse_args(argv)
    clients, size, jobs = (5, 1, [1]) if args.smoke else (args.clients, args.sample or args.clients, args.jobs or list(JOBS))
    if size < 1 or clients < size:
        parser.error(f"--sample must be from 1 to --clients ({clients})")
    info = common.machine()
    with tempfile.TemporaryDirectory(prefix="bench-check-site-") as tmp:
        site = generate(Path(tmp) / "site", SiteSize(pages=20, clients=clients, releases=3, words=120))
        sample = sample_of(clients, size)
        rows = []
        for n in jobs:
            row = once(site, sample, n)
            rows.append(row)
            print(f"  --jobs {n}: {row['clients']} clients in {row['checking_s']} s, {row['clients_per_s']} clients/s "
                  f"(steady {row['steady_clients_per_s']}), {row['configurations']} configurations, "
                  f"{len(row['failed'])} failing", flush=True)
        # A one-client edit, as a pull request checks it (not in --smoke: it is a second whole run).
        changed = None if args.smoke else changed_one(site, clients // 2)
    best = max((r["steady_clients_per_s"] or r["clients_per_s"] or 0 for r in rows), default=0)
    data = {"registry_clients": clients, "sample": size, "goal_clients_per_s": GOAL, "rows": rows,
            "best_clients_per_s": best, "meets_goal": best >= GOAL, "changed_since": changed,
            "changed_since_goal_s": CHANGED_GOAL, "machine": common.finish_machine(info)}
    path = common.write_results("check", data, args.smoke, args.results)
    _print(data)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
