"""The proxy's deployment files (deploy/): the environment template lists exactly the settings the
proxy reads, the systemd unit starts a command the proxy accepts, and Debian's nginx, with the
shipped site config, stands in front of a real proxy: it terminates TLS, tells the proxy the
visitor's address and absorbs a slow visitor.

On loopback every address of 127/8 is this machine, so the visitors connect from 127.0.5.2 and
127.0.6.3 while nginx reaches the proxy from 127.0.0.1: three /24 networks, because usage rows
keep an IPv4 address's /24 only.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import socket
import sqlite3
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.certificates import Certificates, issue
from proxy.app import create_app
from proxy.settings import ENVIRONMENT, Secret, setting_value
from serving import bind
from tests.conftest import REPO
from tests.proxy.conftest import serving, settings_for

DEPLOY = REPO / "deploy"
SITE = DEPLOY / "nginx-proxy.conf"
UNIT = DEPLOY / "retell-proxy.service"
ENV = DEPLOY / "retell-proxy.env.example"
SHOP = "https://shop.example"
VISITOR, OTHER_VISITOR = "127.0.5.2", "127.0.6.3"


def _missing(reason: str) -> None:
    # CI (.ci/run) sets RETELL_REQUIRE_SERVERS: there a missing program is a broken set-up, not a skip.
    if os.environ.get("RETELL_REQUIRE_SERVERS") == "1":
        pytest.fail(f"{reason}, and RETELL_REQUIRE_SERVERS=1")
    pytest.skip(reason)


def _env_entries() -> list[tuple[str, str, bool]]:
    """(name, value, set) per NAME=value line of the template; set is False for a #NAME=value."""
    found = re.findall(r"^(#?)([A-Z][A-Z0-9_]*)=(.*)$", ENV.read_text(), re.MULTILINE)
    return [(name, value, not hashed) for hashed, name, value in found]


def _unit() -> dict[str, list[str]]:
    entries: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            entries.setdefault(key.strip(), []).append(value.strip())
    return entries


def _upstream() -> str:
    """host:port of the proxy in the nginx site config's upstream block."""
    return re.search(r"upstream retell_proxy \{\s*server (\S+);", SITE.read_text()).group(1)


def test_the_env_template_lists_every_setting_once_with_placeholders_for_secrets():
    entries = _env_entries()
    names = [name for name, _, _ in entries]
    assert sorted(names) == sorted(ENVIRONMENT), "deploy/retell-proxy.env.example must list exactly ProxySettings' variables"
    for name, value, is_set in entries:
        setting = ENVIRONMENT[name]
        secret = setting.parse in (Secret, ENVIRONMENT["PROXY_ADMIN_TOKEN"].parse)  # the two parsers of secrets
        if secret and value:
            assert value.startswith("REPLACE_ME"), f"{name}: a secret in the template must be a placeholder"
        elif is_set:
            setting_value({name: value}, name)  # raises SettingsError for a value the proxy refuses
        else:
            assert value == setting.default, f"#{name}= must show the default, {setting.default!r}"
    assert ("RETELL_API_KEY", True) in [(name, is_set) for name, _, is_set in entries]  # the one required


def test_the_unit_runs_the_proxy_where_nginx_and_the_env_template_expect_it():
    from proxy.__main__ import _parser

    unit = _unit()
    python, *argv = shlex.split(unit["ExecStart"][0])
    assert python == unit["WorkingDirectory"][0] + "/.venv/bin/python"
    assert argv[:2] == ["-m", "proxy"]
    args = _parser().parse_args(argv[2:])  # exits (fails the test) on an option serve does not take
    assert (args.verb, f"{args.host}:{args.port}") == ("serve", _upstream())
    env = {name: value for name, value, is_set in _env_entries() if is_set}
    # nginx connects from the address it connects to: the proxy must trust exactly that peer.
    trusted = setting_value(env, "PROXY_TRUSTED_PROXIES")
    assert [str(net) for net in trusted] == [f"{args.host}/32"]
    assert env["PROXY_USAGE_DB"].startswith(f"/var/lib/{unit['StateDirectory'][0]}/")
    assert env["PROXY_REGISTRY"].startswith(unit["WorkingDirectory"][0] + "/")
    assert unit["EnvironmentFile"] == ["/etc/retell-proxy/retell-proxy.env"]
    # nginx closes idle connections to the proxy before the proxy does (PROXY_KEEP_ALIVE).
    keepalive = re.search(r"keepalive_timeout (\d+)s;", SITE.read_text()).group(1)
    assert int(keepalive) < float(ENVIRONMENT["PROXY_KEEP_ALIVE"].default)


def test_the_unit_passes_systemd_analyze_verify(tmp_path: Path):
    if shutil.which("systemd-analyze") is None:
        _missing("systemd-analyze is not installed (Debian: apt-get install systemd)")
    # The same unit, pointing at this checkout: verify checks that ExecStart's program exists.
    unit = UNIT.read_text().replace("/opt/retell-widget/.venv/bin/python", os.path.realpath(sys.executable))
    (tmp_path / UNIT.name).write_text(unit.replace("/opt/retell-widget", str(REPO)))
    checked = subprocess.run(["systemd-analyze", "verify", str(tmp_path / UNIT.name)],
                             capture_output=True, text=True, timeout=60)
    assert (checked.returncode, checked.stderr) == (0, "")


# nginx, unprivileged, with everything it writes in one folder. The site config is included inside
# http { }, as Debian's nginx.conf includes sites-enabled/. "start worker process" on stderr says
# the master is up, so its ports are open.
_MAIN = """\
{user}worker_processes 1;
pid {work}/nginx.pid;
lock_file {work}/nginx.lock;
error_log stderr notice;
events {{ worker_connections 64; }}
http {{
    access_log {work}/access.log;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    include {work}/site.conf;
}}
"""


def _site_for_test(proxy_port: int, https_port: int, http_port: int, certificates: Certificates) -> str:
    """The shipped site config with only what a test must change: ports, loopback, certificate."""
    site = SITE.read_text()
    replacements = [
        (r"server 127\.0\.0\.1:8787;", f"server 127.0.0.1:{proxy_port};"),
        (r"listen 443 ", f"listen 127.0.0.1:{https_port} "),
        (r"listen 80;", f"listen 127.0.0.1:{http_port};"),
        (r"\n *listen \[::\]:\d+[^;]*;", ""),  # IPv4 loopback only, as every test server
        (r"ssl_certificate /\S+;", f"ssl_certificate {certificates.cert_file};"),
        (r"ssl_certificate_key /\S+;", f"ssl_certificate_key {certificates.key_file};"),
    ]
    for pattern, replacement in replacements:
        site, count = re.subn(pattern, lambda _, text=replacement: text, site)
        assert count, f"deploy/nginx-proxy.conf no longer has {pattern!r}: update this test"
    return site


def _free_port() -> int:
    sock = bind()
    port = sock.getsockname()[1]
    sock.close()
    return port


@contextlib.contextmanager
def _nginx(work: Path, site: str) -> Iterator[list[str]]:
    """Debian's nginx on ``site`` until the block ends; yields its log lines so far (and after)."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx):
        _missing("nginx is not installed (Debian: apt-get install nginx)")
    # Started by root, nginx would hand its workers to 'nobody', who cannot enter pytest's
    # private tmp folder; started by anyone else, it runs as that user anyway.
    user = "user root;\n" if os.geteuid() == 0 else ""
    (work / "site.conf").write_text(site)
    (work / "nginx.conf").write_text(_MAIN.format(user=user, work=work))
    proc = subprocess.Popen([nginx, "-p", str(work), "-c", str(work / "nginx.conf"), "-e", "stderr", "-g", "daemon off;"],
                            stderr=subprocess.PIPE, text=True)
    log: list[str] = []
    reader = None
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            log.append(line)
            if "start worker process" in line:
                break
        else:
            pytest.fail("nginx did not start:\n" + "".join(log))
        reader = threading.Thread(target=lambda: log.extend(proc.stderr), daemon=True)
        reader.start()
        yield log
    finally:
        proc.terminate()
        proc.wait(10)
        if reader is not None:
            reader.join(10)
        if proc.stderr is not None:
            proc.stderr.close()


def _recording(app: Any, seen: list[tuple[str, str, dict[bytes, bytes]]]) -> Any:
    """``app``, noting each request as the proxy receives it: peer, path and headers."""
    async def record(scope, receive, send):  # noqa: ANN001 (ASGI)
        if scope["type"] == "http":
            seen.append((scope["client"][0], scope["path"], dict(scope["headers"])))
        await app(scope, receive, send)

    return record


def _server_name() -> str:
    return re.search(r"server_name (\S+);", SITE.read_text()).group(1)


def _visitor(port: int, tls: ssl.SSLContext, address: str) -> httpx.Client:
    """A browser on a registered page, connecting to nginx from ``address``."""
    transport = httpx.HTTPTransport(verify=tls, local_address=address)
    return httpx.Client(base_url=f"https://127.0.0.1:{port}", transport=transport,
                        headers={"Host": _server_name(), "Origin": SHOP}, timeout=30)


def _create(client: httpx.Client, **headers: str) -> httpx.Response:
    return client.post("/api/create-web-call", json={"agent_id": "agent_shop"}, headers=headers)


def _slow_start(port: int, tls: ssl.SSLContext, body: bytes) -> ssl.SSLSocket:
    """A create from VISITOR whose headers are sent, and its body only in part."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(VISITOR, 0))
    sock = tls.wrap_socket(raw, server_hostname="127.0.0.1")
    head = (f"POST /api/create-web-call HTTP/1.1\r\nHost: {_server_name()}\r\nOrigin: {SHOP}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    sock.sendall(head.encode() + body[:5])
    return sock


def _slow_finish(sock: ssl.SSLSocket, body: bytes) -> str:
    """Sends the rest of the body; the response's status line."""
    sock.sendall(body[5:])
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    sock.close()
    return answer.split(b"\r\n", 1)[0].decode()


def test_nginx_in_front_tells_the_proxy_the_visitor_and_absorbs_a_slow_one(fake_retell, registry_file, manifest_file,
                                                                           tmp_path):
    env = {name: value for name, value, is_set in _env_entries() if is_set}
    # The template's trust (nginx's address only); budgets small enough to see whose they are.
    settings = settings_for(fake_retell[1], registry_file, tmp_path, trusted_proxies=setting_value(env, "PROXY_TRUSTED_PROXIES"),
                            rate_limit_ip="2/hour", per_ip_concurrency=1, body_timeout=5.0)
    certificates = issue(tmp_path, [_server_name()])
    tls = ssl.create_default_context(cafile=str(certificates.ca_file))
    seen: list[tuple[str, str, dict[bytes, bytes]]] = []
    https_port, http_port = _free_port(), _free_port()
    (tmp_path / "nginx").mkdir()
    body = json.dumps({"agent_id": "agent_shop"}).encode()
    with contextlib.ExitStack() as stack:
        proxy_port = stack.enter_context(serving(_recording(create_app(settings), seen)))
        log = stack.enter_context(_nginx(tmp_path / "nginx", _site_for_test(proxy_port, https_port, http_port, certificates)))
        visitor = stack.enter_context(_visitor(https_port, tls, VISITOR))
        other = stack.enter_context(_visitor(https_port, tls, OTHER_VISITOR))

        # A slow visitor holds nginx, not the proxy: with one create in progress per visitor
        # address, the same visitor's next create still goes through at once.
        slow = _slow_start(https_port, tls, body)
        assert _create(visitor).status_code == 201, "".join(log)
        assert [(peer, path) for peer, path, _ in seen] == [("127.0.0.1", "/api/create-web-call")]
        headers = seen[0][2]
        assert (headers[b"x-forwarded-for"], headers[b"x-forwarded-proto"]) == (VISITOR.encode(), b"https")
        assert _slow_finish(slow, body) == "HTTP/1.1 201 Created"

        # The limiter budgets the visitor, not nginx: two creates spend this visitor's budget
        # only, and another visitor's made-up X-Forwarded-For is replaced by its address.
        assert _create(visitor).status_code == 429
        fresh = _create(other, **{"X-Forwarded-For": "203.0.113.9"})
        assert (fresh.status_code, fresh.headers["RateLimit-Remaining"]) == (201, "1")
        assert seen[-1][2][b"x-forwarded-for"] == OTHER_VISITOR.encode()

        # Metrics stay private; plain HTTP only redirects.
        assert visitor.get("/metrics").status_code == 403
        plain = httpx.get(f"http://127.0.0.1:{http_port}/api/health", headers={"Host": _server_name()})
        assert (plain.status_code, plain.headers["Location"]) == (301, f"https://{_server_name()}/api/health")
    assert len(fake_retell[0].requests) == 3
    # The proxy has stopped, so its tallied refusals are written too. Rows keep the /24.
    with sqlite3.connect(tmp_path / "usage.sqlite3") as db:
        rows = db.execute("SELECT ip, outcome, SUM(attempts) FROM usage GROUP BY ip, outcome ORDER BY ip, outcome").fetchall()
    assert rows == [("127.0.5.0", "created", 2), ("127.0.5.0", "rate_limited", 1), ("127.0.6.0", "created", 1)]
