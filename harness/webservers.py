"""Debian's nginx and Caddy over a published folder, on 127.0.0.1, with the files ``publish`` wrote.

Each runs as the calling user, everything it writes (pid, logs, temporary files, Caddy's data)
in a work folder, and is wrapped the way the deployment docs tell an operator to: nginx includes
``DIR/nginx.conf`` in ``http {}`` and ``DIR/nginx-server.conf`` in a ``server {}`` with its own
``listen``; Caddy imports ``DIR/Caddyfile`` and uses the snippet in a site block. The tests of
those files and ``bench.webserver`` start them here.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

from builder import webserver


class WebServerFailed(RuntimeError):
    """The server exited, or never said it was serving; the message has its output."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def nginx_main(folder: Path, work: Path, port: int) -> str:
    """A main configuration that keeps everything in ``work`` and logs to stderr."""
    # nginx started by root hands its workers to 'nobody', who cannot read a private temporary
    # folder; keep them as the caller. Started by anyone else, nginx ignores 'user' (and says so).
    user = f"user {pwd.getpwuid(os.getuid()).pw_name};\n" if os.getuid() == 0 else ""
    temp = "\n".join(f"    {name}_temp_path {work / name};" for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return (f"{user}worker_processes 1;\npid {work / 'nginx.pid'};\nerror_log stderr notice;\n"
            "events { worker_connections 512; }\n"
            f"http {{\n    access_log off;\n    log_not_found off;\n{temp}\n"
            f"    include {folder.resolve() / webserver.NGINX_HTTP};\n"
            f"    server {{\n        listen 127.0.0.1:{port};\n"
            f"        include {folder.resolve() / webserver.NGINX_SERVER};\n    }}\n}}\n")


def caddy_main(folder: Path, port: int) -> str:
    """A Caddyfile without the admin API or automatic HTTPS, listening on loopback only."""
    return ("{\n\tadmin off\n\tauto_https off\n}\n"
            f'import "{folder.resolve() / webserver.CADDYFILE}"\n'
            f"http://127.0.0.1:{port} {{\n\tbind 127.0.0.1\n\timport {webserver.SNIPPET}\n}}\n")


@contextlib.contextmanager
def nginx(folder: Path, work: Path, port: int | None = None) -> Iterator[str]:
    """Serve ``folder`` (a publish target) with nginx; yields its base URL."""
    port = port or free_port()
    work.mkdir(parents=True, exist_ok=True)
    (work / "nginx.conf").write_text(nginx_main(folder, work, port))
    command = [_which("nginx"), "-p", str(work), "-c", str(work / "nginx.conf"), "-e", "stderr", "-g", "daemon off;"]
    # The master logs "start worker process" once it listens and has forked its worker.
    with _running(command, "start worker process", os.environ):
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def caddy(folder: Path, work: Path, port: int | None = None) -> Iterator[str]:
    """Serve ``folder`` with Caddy; yields its base URL."""
    port = port or free_port()
    work.mkdir(parents=True, exist_ok=True)
    (work / "Caddyfile").write_text(caddy_main(folder, port))
    # Caddy keeps certificates and an autosaved configuration under HOME / XDG folders: the work folder's.
    env = {**os.environ, "HOME": str(work), "XDG_DATA_HOME": str(work / "data"), "XDG_CONFIG_HOME": str(work / "config")}
    command = [_which("caddy"), "run", "--config", str(work / "Caddyfile"), "--adapter", "caddyfile"]
    with _running(command, "serving initial configuration", env):
        yield f"http://127.0.0.1:{port}"


def _which(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is None:
        raise WebServerFailed(f"{name} is not installed (Debian: apt-get install {name})")
    return path


@contextlib.contextmanager
def _running(command: list[str], ready: str, env: dict[str, str]) -> Iterator[None]:
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, env=env)
    assert process.stdout is not None
    output: list[str] = []
    for line in process.stdout:
        output.append(line)
        if ready in line:
            break
    else:
        process.wait(10)
        raise WebServerFailed(f"{command[0]} exited with status {process.returncode}:\n{''.join(output)}")
    # Keep reading, so a full pipe never blocks the server.
    drain = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)  # type: ignore[arg-type]
    drain.start()
    try:
        yield
    finally:
        process.terminate()
        process.wait(10)
        drain.join(10)
        process.stdout.close()
