from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from harness.fake_retell import FakeRetell
from proxy.app import create_app
from proxy.settings import ProxySettings, Secret
from tests.conftest import running

API_KEY = "key_test_4f1c9a_do_not_leak"
REGISTRY = '''
[[client]]
id = "shop"
name = "Shop"
origins = ["https://shop.example", "https://*.shop.example", "http://localhost:3000"]
agents = ["agent_shop"]
theme = "purple"
position = "bottom-right"
widget_version = "1.0.0"
brand_color = "#0f766e"

[[client]]
id = "bolt"
name = "Bolt"
origins = ["https://bolt.example"]
agents = ["agent_bolt"]
theme = "blue"
position = "bottom-left"
widget_version = "1.0.0"
brand_color = "#b91c1c"
'''


@pytest.fixture
def registry_file(tmp_path: Path) -> Path:
    path = tmp_path / "clients.toml"
    path.write_text(REGISTRY)
    return path


@pytest.fixture
def fake_retell() -> Iterator[tuple[FakeRetell, str]]:
    fake = FakeRetell.for_agents(API_KEY, ["agent_shop", "agent_bolt"])
    with running(fake.app()) as port:
        yield fake, f"http://127.0.0.1:{port}"


@pytest.fixture
def proxy_factory(registry_file: Path) -> Iterator[Callable[..., httpx.Client]]:
    """Start a proxy against ``base_url`` on a free port and return a client for it."""
    with contextlib.ExitStack() as stack:
        def make(base_url: str, api_key: str = API_KEY, timeout: float = 5.0) -> httpx.Client:
            settings = ProxySettings(Secret(api_key), base_url, registry_file, timeout)
            port = stack.enter_context(running(create_app(settings)))
            return stack.enter_context(httpx.Client(base_url=f"http://127.0.0.1:{port}"))

        yield make


@pytest.fixture
def proxy(proxy_factory, fake_retell) -> httpx.Client:
    return proxy_factory(fake_retell[1])
