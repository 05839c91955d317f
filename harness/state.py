"""The sandbox's state file (``python -m harness --state FILE``): how to reach and drive a running
sandbox. Written by ``harness.sandbox``; read by the registry check, the tests and the benchmarks,
always through ``SandboxState``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# The HTTPS sandbox's one plain-http origin: a client site that is not a secure context.
INSECURE = "insecure"


@dataclass(frozen=True, slots=True)
class SandboxClient:
    id: str
    name: str
    origin: str
    agents: tuple[str, ...]
    widget_version: str


@dataclass(frozen=True, slots=True)
class MediaAddress:
    """Retell's media server stand-in: the SDK dials ``wss://host``, Chromium maps it to ``port``."""

    host: str
    port: int


@dataclass(frozen=True, slots=True)
class BotsAddress:
    """The bot check providers' fakes, under their real host names, mapped to ``port``."""

    hosts: tuple[str, ...]
    port: int
    site_key: str


@dataclass(frozen=True, slots=True)
class SandboxState:
    origins: dict[str, str]  # name -> URL, as a browser reaches it
    ports: dict[str, int]  # name -> port on 127.0.0.1 (media and the internal listeners included)
    proxy: str
    proxy_endpoint: str
    retell: str
    control: str
    hostile: str
    scheme: str  # "http", or "https" with --https
    admin_token: str  # opens the proxy's /usage page
    # The fake Retell's API key: Retell's own clients work against the sandbox with it
    # (Retell(api_key=..., base_url=<retell origin>)). A sandbox key, good for nothing else.
    retell_api_key: str
    pid: int  # the sandbox's own process (one process serves every origin)
    ca_file: str | None  # the local CA with --https
    media: MediaAddress
    bots: BotsAddress
    chromium_args: tuple[str, ...]  # every flag a Chromium needs for this sandbox; pass them as they are
    chromium_command: tuple[str, ...]  # for a person: their own microphone, in a fresh profile
    clients: tuple[SandboxClient, ...]

    def local(self, name: str) -> str:
        """The origin ``name`` at 127.0.0.1, for programs that cannot resolve its host name."""
        # The HTTPS sandbox's insecure origin is plain http whatever the sandbox's scheme.
        scheme = "http" if name == INSECURE else self.scheme
        return f"{scheme}://127.0.0.1:{self.ports[name]}"

    def client(self, client_id: str) -> SandboxClient:
        return next(c for c in self.clients if c.id == client_id)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        # JSON has lists, not tuples: the file reads the same as it always has.
        return json.loads(json.dumps(data))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SandboxState:
        fields = dict(data)
        media, bots = fields.pop("media"), fields.pop("bots")
        return cls(
            **{k: v for k, v in fields.items() if k not in ("clients", "chromium_args", "chromium_command")},
            media=MediaAddress(**media),
            bots=BotsAddress(tuple(bots["hosts"]), bots["port"], bots["site_key"]),
            chromium_args=tuple(fields["chromium_args"]),
            chromium_command=tuple(fields["chromium_command"]),
            clients=tuple(SandboxClient(**(c | {"agents": tuple(c["agents"])})) for c in fields["clients"]),
        )

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2), encoding="utf-8")
        tmp.replace(path)  # readers never see a half-written file


def load(path: Path) -> SandboxState:
    return SandboxState.from_json(json.loads(path.read_text(encoding="utf-8")))
