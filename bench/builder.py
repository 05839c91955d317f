"""Builder benchmark: cold build, unchanged rebuild, one changed page, one changed client, vs MkDocs;
and publishing the build to a folder, then rolling back.

``python -m bench.builder`` generates a synthetic source (bench/gen_site.py: 1,000 docs pages,
1,000 clients, 50 releases), builds it with ``python -m builder build`` and MkDocs builds the same
pages with ``mkdocs build`` (MkDocs lives in its own virtualenv, bench/.venv-mkdocs, created here
with pip on first use). Cold builds run as processes on both sides, alternating ours and MkDocs's
so a change in machine load hits both; incremental builds use the builder's API in one process,
as ``builder serve`` does. MkDocs has no incremental build (``mkdocs serve`` rebuilds the whole
site on every change), so its cold build is the peer of every row.

Then the build is published to a folder twice (before and after one changed page) and
``builder publish --rollback`` switches ``current`` between the two snapshots, timed in one
process (the API the CLI calls) and as the command an operator types (a process, with Python's
start-up). MkDocs has no publish or rollback, so these rows have no peer.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from bench import common
from bench.gen_site import SMOKE, SiteSize, generate, touch_client, touch_page

if TYPE_CHECKING:
    from builder.build import Builder  # imported by run, not by the CLI's --help

VENV = Path(__file__).resolve().parent / ".venv-mkdocs"
REQUIREMENTS = Path(__file__).resolve().parent / "requirements-mkdocs.txt"
TARGETS = {"cold_vs_mkdocs": ">= 10x faster", "unchanged": "<= 0.3 s", "one_change": "<= 0.1 s"}


def mkdocs_executable() -> Path:
    """bench/.venv-mkdocs/bin/mkdocs, creating the virtualenv with pip when it is missing."""
    exe = VENV / "bin" / "mkdocs"
    if not exe.exists():
        print(f"creating {VENV} with {REQUIREMENTS.read_text().strip()} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "--quiet", "-r", str(REQUIREMENTS)], check=True)
    return exe


def _mkdocs_config(root: Path) -> Path:
    # The same pages with the same markdown extensions (tables, fenced code, heading ids,
    # Pygments highlighting); MkDocs's default theme and search index, as ours has a search index.
    path = root / "mkdocs.yml"
    path.write_text(
        "site_name: Retell Widget\n"
        f"docs_dir: {root / 'site_src' / 'docs'}\n"
        "theme: mkdocs\n"
        "markdown_extensions:\n  - tables\n  - fenced_code\n  - toc:\n      permalink: false\n"
        "  - codehilite:\n      guess_lang: false\n      css_class: highlight\n",
        encoding="utf-8",
    )
    return path


def _ours_cold(root: Path, out: Path) -> None:
    subprocess.run([sys.executable, "-m", "builder", "build", "--src", str(root / "site_src"),
                    "--widget", str(root / "widget"), "--out", str(out)],
                   cwd=common.REPO, check=True, stdout=subprocess.DEVNULL)


def _clean(out: Path) -> None:
    """No output and no cache: the next build is cold (the cache is a file or a folder beside ``out``)."""
    shutil.rmtree(out, ignore_errors=True)
    cache = out.parent / f".{out.name}.buildcache"
    if cache.is_dir():
        shutil.rmtree(cache)
    else:
        cache.unlink(missing_ok=True)


def run(size: SiteSize, runs: int, cold_runs: int, work: Path, mkdocs: bool) -> dict:
    from builder.build import Builder
    from builder.config import load_config

    generate(work, size)
    out = work / "dist"
    mkdocs_exe = mkdocs_executable() if mkdocs else None
    times = _cold_times(work, out, cold_runs, mkdocs_exe)

    # The same command again, with the cache the cold build left.
    times["cli_unchanged"] = common.repeat(lambda: _ours_cold(work, out), runs)

    # Incremental builds in one process, as the dev server does them.
    builder = Builder(load_config(work / "site_src", work / "widget", out))
    times |= _incremental_times(builder, work, runs)

    report = builder.rebuild()
    medians = {name: round(common.median(values), 4) for name, values in times.items() if values}
    peer = medians.get("mkdocs_cold")
    rollback = _rollback_times(builder, work, out, runs)
    return {
        "size": {"pages": size.pages, "clients": size.clients, "releases": size.releases, "words": size.words},
        "output": {"files": len(report.files), "bytes": sum(report.files.values())},
        "mkdocs_version": _mkdocs_version(mkdocs_exe),
        "runs": runs, "cold_runs": cold_runs,
        "rows": _rows(times, medians),
        "publish_rollback": rollback,
        "targets": TARGETS,
        "verdicts": {
            "cold_vs_mkdocs": (peer / medians["cold"] >= 10) if peer else None,
            "unchanged": medians["unchanged"] <= 0.3,
            "one_change": max(medians["one_page"], medians["one_client"]) <= 0.1,
        },
    }


def _cold_times(work: Path, out: Path, cold_runs: int, mkdocs_exe: Path | None) -> dict[str, list[float]]:
    """Cold builds, alternating ours and MkDocs's."""
    mkdocs_yml = _mkdocs_config(work)
    site = work / "mkdocs-site"
    times: dict[str, list[float]] = {"cold": [], "mkdocs_cold": []}
    for _ in range(cold_runs):
        times["cold"] += common.repeat(lambda: _ours_cold(work, out), 1, lambda: _clean(out))
        if mkdocs_exe is not None:
            shutil.rmtree(site, ignore_errors=True)
            times["mkdocs_cold"].append(common.timed(lambda: subprocess.run(
                [str(mkdocs_exe), "build", "--quiet", "--config-file", str(mkdocs_yml), "--site-dir", str(site)],
                check=True, cwd=work)))
    return times


def _incremental_times(builder: Builder, work: Path, runs: int) -> dict[str, list[float]]:
    builder.rebuild()  # warm: the in-memory state now matches the output folder
    times = {"unchanged": common.repeat(lambda: builder.rebuild(), runs), "one_page": [], "one_client": []}
    edits = iter(range(1, 10_000))
    for _ in range(runs):
        # As serve: the page reloads after this rebuild; the search index is refreshed after it
        # (bench.search times that step).
        touch_page(work, 1, next(edits))
        times["one_page"].append(common.timed(lambda: builder.rebuild(search=False)))
        builder.rebuild()
        touch_client(work, 1, next(edits))
        times["one_client"].append(common.timed(lambda: builder.rebuild(search=False)))
    return times


def _rollback_times(builder: Builder, work: Path, out: Path, runs: int) -> list[dict]:
    """Publish the build to a folder, change a page and publish again, then roll back and forth."""
    from builder.rollback import run as rollback

    target = work / "www"
    shutil.rmtree(target, ignore_errors=True)
    times: dict[str, list[float]] = {}

    def publish() -> None:
        from builder.publish import publish

        with contextlib.redirect_stdout(io.StringIO()):
            assert publish(out, str(target)) == 0

    times["publish_first"] = [common.timed(publish)]
    touch_page(work, 2, 1)
    builder.rebuild()
    times["publish_one_page"] = [common.timed(publish)]
    names = sorted(p.name for p in (target / "snapshots").iterdir() if p.is_dir())

    def switch(name: str | None) -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            assert rollback(str(target), listing=False, rollback=name or "", source=None, endpoint_url=None,
                            dry_run=False) == 0

    times["rollback"], times["rollback_process"] = [], []
    for _ in range(runs):
        times["rollback"].append(common.timed(lambda: switch(None)))  # to the one before: the first publish
        switch(names[-1])
        times["rollback_process"].append(common.timed(lambda: subprocess.run(
            [sys.executable, "-m", "builder", "publish", "--to", str(target), "--rollback"],
            cwd=common.REPO, check=True, stdout=subprocess.DEVNULL)))
        switch(names[-1])
    labels = {"publish_first": "publish to a new folder (API)",
              "publish_one_page": "publish after one page changed (API)",
              "rollback": "rollback to the previous snapshot (API)", "rollback_process": "rollback (process)"}
    return [{"case": name, "label": labels[name], "median_s": round(common.median(values), 4),
             "runs_s": [round(t, 4) for t in values]} for name, values in times.items()]


def _rows(times: dict[str, list[float]], medians: dict[str, float]) -> list[dict]:
    """One row per case, each against MkDocs's cold build (its only build: it has no incremental one)."""
    peer = medians.get("mkdocs_cold")
    rows = []
    for name, label in (("cold", "cold build (process)"), ("cli_unchanged", "unchanged rebuild (process, cached)"),
                        ("unchanged", "unchanged rebuild (API)"), ("one_page", "one changed page (API)"),
                        ("one_client", "one changed client (API)")):
        rows.append({"case": name, "label": label, "median_s": medians[name],
                     "runs_s": [round(t, 4) for t in times[name]],
                     "mkdocs_s": peer, "mkdocs_over_ours": common.ratio(peer, medians[name])})
    if peer:
        rows.append({"case": "mkdocs_cold", "label": "MkDocs cold build (process)", "median_s": peer,
                     "runs_s": [round(t, 4) for t in times["mkdocs_cold"]], "mkdocs_s": peer, "mkdocs_over_ours": 1.0})
    return rows


def _mkdocs_version(exe: Path | None) -> str | None:
    if exe is None:
        return None
    text = subprocess.run([str(exe), "--version"], capture_output=True, text=True).stdout
    return text.split(" from ")[0].replace(", version", "").strip()  # "mkdocs 1.6.1"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.builder", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="a tiny site and one run each: checks the tooling in seconds")
    parser.add_argument("--runs", type=int, default=5, help="runs of each incremental case (default 5)")
    parser.add_argument("--cold-runs", type=int, default=3, help="cold builds of each side (default 3)")
    parser.add_argument("--no-mkdocs", action="store_true", help="skip MkDocs (no peer figure)")
    parser.add_argument("--work", type=Path, help="folder for the generated site (default: a temporary one)")
    parser.add_argument("--results", type=Path, help="folder for the JSON (default bench/results)")
    args = parser.parse_args(argv)
    size = SMOKE if args.smoke else SiteSize()
    runs, cold_runs = (1, 1) if args.smoke else (args.runs, args.cold_runs)
    info = common.machine()
    with tempfile.TemporaryDirectory(prefix="bench-builder-") as tmp:
        work = args.work or Path(tmp) / "site"
        data = run(size, runs, cold_runs, work, mkdocs=not args.no_mkdocs)
    data["machine"] = common.finish_machine(info)
    path = common.write_results("builder", data, args.smoke, args.results)
    print(f"builder: {size.pages} pages, {size.clients} clients, {size.releases} releases; "
          f"{data['output']['files']:,} files, {data['output']['bytes']:,} bytes; {data['mkdocs_version'] or 'no MkDocs'}")
    print(common.table(["case", "median s", "MkDocs cold s", "MkDocs / ours"],
                       [(r["label"], r["median_s"], r["mkdocs_s"], r["mkdocs_over_ours"]) for r in data["rows"]]))
    print(common.table(["publish and rollback", "median s"],
                       [(r["label"], r["median_s"]) for r in data["publish_rollback"]]))
    print("targets: " + "; ".join(f"{k} {v}: {'met' if data['verdicts'][k] else 'not met' if data['verdicts'][k] is not None else 'n/a'}"
                                  for k, v in TARGETS.items()))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
