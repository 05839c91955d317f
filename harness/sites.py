"""A static origin of the sandbox: the docs site, served from the build."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp


def static_site(root: Path) -> ASGIApp:
    return Starlette(routes=[Mount("/", StaticFiles(directory=root, html=True))])

