"""Command line: ``python -m harness`` builds the site and serves every sandbox origin until Ctrl-C;
``python -m harness check`` checks every client of the registry in Chromium against it;
``python -m harness junit-merge OUT IN...`` merges the JUnit reports of a sharded check."""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.state import SandboxState
    from serving import Shutdown


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m harness", description=__doc__,
                                     epilog="python -m harness check --help: the registry check; "
                                            "python -m harness junit-merge --help: one JUnit report from the shards'")
    parser.add_argument("--src", type=Path, default=Path("site_src"), help="site source folder (default: site_src)")
    parser.add_argument("--widget", type=Path, default=Path("widget"), help="widget source folder (default: widget)")
    parser.add_argument("--port-base", type=int, default=0, metavar="N",
                        help="give origins consecutive ports from N (default: free ports)")
    parser.add_argument("--https", action="store_true",
                        help="serve every origin over https:// from a local CA (its ca.pem path is in --state)")
    parser.add_argument("--domain", default="localhost",
                        help="parent domain of every origin (default: localhost, which browsers resolve to "
                             "this machine; others need --https and e.g. Chromium's --host-resolver-rules)")
    parser.add_argument("--watch", action="store_true",
                        help="rebuild incrementally when --src or --widget changes, and reload open pages")
    parser.add_argument("--agents", type=Path, metavar="FILE",
                        help="the agents' scripts, a TOML file (see harness/script.py); agents without one greet and "
                             "answer every visitor turn until the visitor hangs up or stays silent")
    parser.add_argument("--upstream-timeout", type=float, default=1.0, metavar="SECONDS",
                        help="how long the proxy waits for the fake Retell (default 1, so that an injected delay of "
                             "a second or more times out quickly; the proxy's own default is 10)")
    parser.add_argument("--state", type=Path, metavar="FILE",
                        help="write every origin's URL and port, the clients, the proxy's URL, its /usage admin token and "
                             "the fake Retell's API key to FILE as JSON")
    return parser


_LABELS = {
    "cdn": "widget CDN", "docs": "docs site", "proxy": "token proxy", "retell": "fake Retell API",
    "control": "test control: /calls, /faults", "hostile": "a hostile copy of a client page",
    "csp": "a client site with a strict CSP (/sandbox/<cdn folder>/)",
    "css": "a client site with hostile CSS (/sandbox/<cdn folder>/)",
    "insecure": "a plain-http client site: not a secure context",
}


def _print_ready(state: SandboxState, state_file: Path | None) -> None:
    names = {c.id: c.name for c in state.clients}
    for name, url in state.origins.items():
        label = names.get(name, _LABELS.get(name, ""))
        print(f"  {name:<10} {url:<36} {label}")
    media = state.media
    print(f"  {'media':<10} {'https://127.0.0.1:' + str(media.port):<36} Retell's media server, as wss://{media.host}")
    print("Try a call in Chromium, which needs these flags to reach the media server:")
    print("  " + shlex.join(state.chromium_command))
    if state_file is not None:
        state.save(state_file)
    print("sandbox ready; press Ctrl-C to stop", flush=True)


async def _main(args: argparse.Namespace, shutdown: Shutdown) -> None:
    from harness.sandbox import SandboxConfig, run_sandbox

    config = SandboxConfig(src=args.src, widget=args.widget, port_base=args.port_base, domain=args.domain, https=args.https,
                           watch=args.watch, agents=args.agents, upstream_timeout=args.upstream_timeout)
    await run_sandbox(config, shutdown, lambda state: _print_ready(state, args.state))


def _check_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harness check",
        description="Build the site for the sandbox, start it, and check every client: its demo page loads its pinned "
                    "version with SRI in Chromium, the proxy accepts its origin, each agent's token joins the media "
                    "server, a copy on a foreign origin is refused. Once per widget configuration (release, bot check, "
                    "consent text, language, theme, position), in Chromium with Retell's real SDK: the widget is accessible (axe), a "
                    "call starts, is heard and hangs up as user_hangup, and (v2) the page under the strict CSP makes a "
                    "call. Exit status 0 only if every check passed.")
    parser.add_argument("--src", type=Path, default=Path("site_src"), help="site source folder (default: site_src)")
    parser.add_argument("--widget", type=Path, default=Path("widget"), help="widget source folder (default: widget)")
    parser.add_argument("--client", action="append", default=[], metavar="ID",
                        help="check only this client (repeatable; default: every client)")
    parser.add_argument("--jobs", type=int, default=0, metavar="N",
                        help="browser pages in parallel, each reused from client to client (default: the CPU count, at most 4)")
    parser.add_argument("--out", type=Path, default=Path("check-results"), metavar="DIR",
                        help="where a failed check's screenshot and Playwright trace go (default: check-results)")
    parser.add_argument("--junit", type=Path, metavar="FILE", help="also write JUnit XML, one test case per client and check")
    parser.add_argument("--changed-since", metavar="REF",
                        help="check only the clients a change since the git REF (e.g. origin/main) can have broken: "
                             "their registry entry changed or is new, their pinned release's files changed, or "
                             "everyone when the widget's SDK, the proxy, the registry code, the builder or the "
                             "harness changed; prints why each client was chosen")
    parser.add_argument("--shard", metavar="K/N",
                        help="check only shard K of N (e.g. 2/4): N shards cover every client once, and a client's "
                             "shard depends on its id alone; after --client and --changed-since")
    parser.add_argument("--table", action="store_true",
                        help="print one table row per client even above 50 clients (else a summary: counts per "
                             "check and the failing clients)")
    return parser


def check(argv: list[str]) -> int:
    parser = _check_parser()
    args = parser.parse_args(argv)
    from harness.selection import Shard

    problems = [] if 0 <= args.jobs <= 32 else [f"--jobs {args.jobs} must be from 1 to 32 (0: the default)"]
    shard = None
    if args.shard is not None:
        try:
            shard = Shard.parse(args.shard)
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        parser.error("\n".join(problems))
    from harness.check import CheckConfig
    from harness.check import main as run_check

    return run_check(CheckConfig(src=args.src, widget=args.widget, clients=tuple(args.client), jobs=args.jobs,
                                 out=args.out, junit=args.junit, changed_since=args.changed_since, shard=shard,
                                 table=args.table))


def junit_merge(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness junit-merge",
        description="Merge the JUnit reports of a sharded registry check (harness check --shard K/N --junit FILE) "
                    "into one, and print its totals. Refuses a test case found in two reports.")
    parser.add_argument("out", type=Path, metavar="OUT", help="the merged report to write")
    parser.add_argument("inputs", type=Path, nargs="+", metavar="IN", help="a shard's JUnit report")
    args = parser.parse_args(argv)
    from harness.junit import JunitError, merge

    try:
        text, totals = merge(args.inputs)
    except JunitError as exc:
        print("\n".join(exc.errors), file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}: {len(args.inputs)} report(s), {totals}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["check"]:
        return check(argv[1:])
    if argv[:1] == ["junit-merge"]:
        return junit_merge(argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    if not re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*", args.domain):
        parser.error(f"--domain {args.domain!r} is not a lower-case DNS name")
    if not args.https and not (args.domain == "localhost" or args.domain.endswith(".localhost")):
        # Plain http is a secure context (with a microphone) on localhost names only, and the
        # registry refuses http:// origins anywhere else.
        parser.error(f"--domain {args.domain} needs --https: plain http is for localhost names only "
                     "(browsers give no microphone to http:// elsewhere)")
    if args.port_base and not 1024 <= args.port_base <= 65000:
        parser.error(f"--port-base {args.port_base} must be 0 (free ports) or from 1024 to 65000")
    if not 0.1 <= args.upstream_timeout <= 120:  # the proxy's own bounds for PROXY_UPSTREAM_TIMEOUT
        parser.error(f"--upstream-timeout {args.upstream_timeout:g} must be from 0.1 to 120 seconds")
    from builder.build import BuildError
    from builder.config import ConfigError
    from harness.sandbox import SandboxError
    from harness.script import ScriptError
    from registry import RegistryError
    from serving import ServerFailed, run

    try:
        run(lambda shutdown: _main(args, shutdown))
    except (BuildError, ConfigError, RegistryError, ScriptError) as exc:
        print("\n".join(exc.errors), file=sys.stderr)
        return 1
    except (SandboxError, ServerFailed) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("sandbox stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
