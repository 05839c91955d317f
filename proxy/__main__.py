"""Command line: ``python -m proxy serve``, ``python -m proxy usage`` and ``python -m proxy
send-test-webhook``, configured from the environment."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from proxy.settings import SETTINGS


def _parser() -> argparse.ArgumentParser:
    table = "\n".join(f"  {setting.env:<26} {setting.describe()}" for setting in SETTINGS)
    parser = argparse.ArgumentParser(
        prog="python -m proxy", description=__doc__, epilog=f"environment:\n{table}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = parser.add_subparsers(dest="verb", required=True)
    serve = verbs.add_parser("serve", help="serve the token API with uvicorn")
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8787, help="port to listen on (default 8787)")
    serve.add_argument("--workers", type=int, default=1, metavar="N",
                       help="processes sharing the port (default 1; 1 to 64); with memory:// rate limits "
                            "each process keeps its own budget")
    usage = verbs.add_parser("usage", help="print a usage report from PROXY_USAGE_DB")
    usage.add_argument("--since", default="7d", help="how far back: 30m, 24h, 7d, 2w (default 7d)")
    usage.add_argument("--by", choices=("client", "outcome"), default="client",
                       help="client: calls created and connected, minutes and cost per client, from Retell's "
                            "webhooks (default); outcome: create attempts per client and outcome")
    usage.add_argument("--format", choices=("text", "csv"), default="text", help="text (default) or csv, for invoicing")
    hook = verbs.add_parser(
        "send-test-webhook", help="send a signed sample call_ended to a proxy and print its answer",
        description="POST a sample call_ended webhook to URL (a proxy's /api/retell-webhook; a bare origin gets "
                    "that path), signed as Retell signs it with RETELL_WEBHOOK_KEY (default RETELL_API_KEY), "
                    "and print the proxy's status and body. 204 means the proxy checks with the same key and "
                    "stored the event (its call id is fixed, so it is stored once, unattributed, at no cost); "
                    "401 bad_signature means the proxy has another key (or the clocks are more than 5 minutes "
                    "apart: the message says which). Exit 0 on 2xx, 1 on another answer, "
                    "2 when nothing was sent.")
    hook.add_argument("url", metavar="URL", help="the proxy's webhook URL, e.g. https://proxy.example.com/api/retell-webhook")
    hook.add_argument("--cacert", metavar="FILE", help="trust the proxy's certificate from this CA file (PEM) "
                      "rather than the system's roots")
    hook.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the answer (default 10; "
                      "Retell itself waits 10)")
    return parser


def _settings():  # -> ProxySettings | None, after printing every problem
    from proxy.settings import SettingsError, load_settings

    try:
        return load_settings(os.environ)
    except SettingsError as exc:
        for line in exc.errors:
            print(f"error: {line}", file=sys.stderr)
        return None


def _preflight(settings) -> bool:  # settings: ProxySettings
    """Check the registry and the usage database before serving, to report problems plainly."""
    import registry
    from proxy.usage import open_store

    try:
        releases = registry.Manifest.read(settings.manifest_path).releases
    except registry.ManifestError:
        releases = None  # the app warns that versions are checked for their form only
    try:
        registry.load(settings.registry_path, releases)
    except registry.RegistryError as exc:
        for line in exc.errors:
            print(f"error: {line}", file=sys.stderr)
        return False
    if settings.usage_database is not None:
        try:
            open_store(settings.usage_database).close()
        except Exception as exc:  # sqlite3, psycopg or a missing driver: all mean the same here
            print(f"error: PROXY_USAGE_DB: cannot open {settings.usage_database.split('@')[-1]}: {exc}", file=sys.stderr)
            return False
    return True


def serve(host: str, port: int, workers: int = 1) -> int:
    import uvicorn

    from proxy.app import create_app
    from proxy.settings import configure_logging

    if not 1 <= workers <= 64:
        print(f"error: --workers must be between 1 and 64, not {workers}", file=sys.stderr)
        return 2
    settings = _settings()
    if settings is None or not _preflight(settings):
        return 2
    configure_logging(settings.log_level)
    from proxy.connections import server_options

    # proxy_headers=False: X-Forwarded-For is believed only from PROXY_TRUSTED_PROXIES, by us.
    # log_level=None: uvicorn's loggers follow PROXY_LOG_LEVEL, through the root logger.
    options = {"proxy_headers": False, "access_log": False, "log_config": None, "log_level": None,
               **server_options(settings, workers)}
    if workers == 1:
        return _serve_one(create_app(settings), host, port, options)
    from uvicorn.supervisors import Multiprocess

    if settings.rate_limit_storage == "memory://":
        logging.getLogger("proxy").warning(
            "each of the %d workers keeps its own rate-limit budget, so a client may get up to %d times "
            "the configured limits; set PROXY_RATE_LIMIT_STORAGE to a redis:// URL to share one budget",
            workers, workers)
    # Each worker is a new process that imports the app and reads the same environment.
    config = uvicorn.Config("proxy.app:from_environment", factory=True, workers=workers, host=host, port=port, **options)
    Multiprocess(config, sockets=[config.bind_socket()]).run()
    return 0


def _serve_one(app, host: str, port: int, options: dict) -> int:  # noqa: ANN001 (an ASGI app)
    """One process: the same server, start and shutdown as every test and sandbox origin
    (``serving``); the first Ctrl-C drains the requests in progress, a second one stops waiting."""
    from serving import Server, ServerFailed, Shutdown, bind, run

    try:
        sock = bind(port, host)
    except OSError as exc:
        print(f"error: cannot listen on {host}:{port} ({exc.strerror})", file=sys.stderr)
        return 2

    async def main(shutdown: Shutdown) -> None:
        server = Server(app, sock, **options)
        await server.start()
        logging.getLogger("proxy").info("serving on http://%s:%d; Ctrl-C stops", host, server.port)
        await shutdown.wait(server)
        await server.stop(shutdown.forced)

    try:
        run(main)
    except ServerFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        sock.close()
    logging.getLogger("proxy").info("stopped")
    return 0


def usage(since: str, by: str = "client", form: str = "text") -> int:
    from proxy.report import calls_csv, calls_text, outcomes_csv, parse_span, summarise, summarise_calls, text_report
    from proxy.usage import open_store

    try:
        span = parse_span(since)
    except ValueError as exc:
        print(f"error: --since: {exc}", file=sys.stderr)
        return 2
    from proxy.settings import SettingsError, setting_value

    try:
        database = setting_value(os.environ, "PROXY_USAGE_DB")
    except SettingsError as exc:
        print(f"error: {exc.errors[0]}", file=sys.stderr)
        return 2
    if database is None:
        print("error: PROXY_USAGE_DB is off, so there is no usage to report", file=sys.stderr)
        return 2
    if "://" not in database and not os.path.isfile(database):
        print(f"error: PROXY_USAGE_DB: no usage database at {database}", file=sys.stderr)
        return 2
    try:
        store = open_store(database)
    except Exception as exc:  # sqlite3, psycopg or a missing driver: all mean the same here
        print(f"error: PROXY_USAGE_DB: cannot open {database.split('@')[-1]}: {exc}", file=sys.stderr)
        return 2
    try:
        if by == "client":
            calls = summarise_calls(store, span)
            print(calls_csv(calls) if form == "csv" else calls_text(calls), end="")
        else:
            attempts = summarise(store, span)
            print(outcomes_csv(attempts) if form == "csv" else text_report(attempts), end="")
    finally:
        store.close()
    return 0


def send_test_webhook(url: str, cafile: str | None = None, timeout: float = 10.0) -> int:
    from proxy.sample_webhook import NotSent, send
    from proxy.settings import SettingsError, setting_value

    # The key the proxy checks webhooks with, read as `proxy serve` reads it; never printed.
    try:
        key, name = setting_value(os.environ, "RETELL_WEBHOOK_KEY"), "RETELL_WEBHOOK_KEY"
        if key is None:
            key, name = setting_value(os.environ, "RETELL_API_KEY"), "RETELL_API_KEY"
    except SettingsError as exc:
        print(f"error: {exc.errors[0]}", file=sys.stderr)
        return 2
    if not key.reveal():
        print("error: set RETELL_WEBHOOK_KEY (or RETELL_API_KEY) to the key the proxy checks webhooks with",
              file=sys.stderr)
        return 2
    try:
        answer = send(url, key.reveal(), cafile=cafile, timeout=timeout)
    except NotSent as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"sent a sample call_ended to {answer.url}, signed with {name}")
    print(f"the proxy answered {answer.status}{': ' + answer.body if answer.body else ''}")
    if answer.status == 401 and "bad_signature" in answer.body:
        print(f"hint: if the message says the signature does not match, the proxy checks with another key than "
              f"this {name}", file=sys.stderr)
    return 0 if 200 <= answer.status < 300 else 1


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.verb == "usage":
        return usage(args.since, args.by, args.format)
    if args.verb == "send-test-webhook":
        return send_test_webhook(args.url, args.cacert, args.timeout)
    return serve(args.host, args.port, args.workers)


if __name__ == "__main__":
    sys.exit(main())
