"""Command line: ``python -m proxy serve``, configured from environment variables."""

from __future__ import annotations

import argparse
import os
import sys

from proxy.settings import ENVIRONMENT


def _parser() -> argparse.ArgumentParser:
    table = "\n".join(f"  {name:<24} {text}" for name, (_, text) in ENVIRONMENT.items())
    parser = argparse.ArgumentParser(
        prog="python -m proxy", description=__doc__, epilog=f"environment:\n{table}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = parser.add_subparsers(dest="verb", required=True)
    serve = verbs.add_parser("serve", help="serve the token API with uvicorn")
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8787, help="port to listen on (default 8787)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    import uvicorn

    from proxy.app import create_app
    from proxy.settings import SettingsError, load_settings

    try:
        settings = load_settings(os.environ)
    except SettingsError as exc:
        for line in exc.errors:
            print(f"error: {line}", file=sys.stderr)
        return 2
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host=args.host, port=args.port, proxy_headers=False))
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
