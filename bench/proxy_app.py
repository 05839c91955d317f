"""``uvicorn --factory bench.proxy_app:app --workers N``: our proxy, configured from the environment.

``python -m proxy serve`` runs one uvicorn process; this factory lets the benchmark run the same
application with several worker processes, as a deployment behind one port would.
"""

from __future__ import annotations

import os


def app():  # -> ASGIApp
    from proxy.app import create_app
    from proxy.settings import configure_logging, load_settings

    settings = load_settings(os.environ)
    configure_logging(settings.log_level)
    return create_app(settings)
