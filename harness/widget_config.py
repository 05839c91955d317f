"""A widget configuration: what decides the code a browser runs for a client's widget.

Two clients with the same ``WidgetConfig`` get the same release's bytes, the same bot check
script, the same consent step (the same text, which the browser hashes itself), the same strings,
the same strict-CSP page and the same look: a call that works in the browser for one works for
the other, unless something about the client itself differs (its origins, its agents, its demo
page's bytes), and ``python -m harness check`` checks those per client. So the full browser call
(axe, a call, the strict-CSP call) runs once per configuration.
"""

from __future__ import annotations

from dataclasses import dataclass

import registry


@dataclass(frozen=True, slots=True, order=True)
class WidgetConfig:
    release: str  # the pinned widget version: the bytes the browser runs
    bot_check: str | None  # the provider whose script the widget loads, if any
    consent: str | None  # the consent text's hash: the widget shows the text and hashes it for the create
    strict_csp: bool  # the release supports the documented strict CSP (v2): a strict-CSP call runs
    theme: str  # the widget's look: what axe judges
    position: str
    language: str | None  # the widget's strings (None: the page's own language)

    def __str__(self) -> str:
        extra = [f"bot check {self.bot_check}"] if self.bot_check else []
        extra += [f"consent {self.consent[:8]}"] if self.consent else []
        extra += [f"lang {self.language}"] if self.language else []
        return f"v{self.release} {self.theme} {self.position}" + "".join(f", {e}" for e in extra)


def config_of(client: registry.Client) -> WidgetConfig:
    """The client's configuration. Not in it: what the proxy alone decides (origins, agents,
    variables, agent versions, quotas), the page variables (the per-client create sends the same
    body as the page) and the demo page's own colours (outside the widget)."""
    return WidgetConfig(client.widget_version, client.bot_check, client.consent.hash if client.consent else None,
                        client.version.major >= 2, client.theme, client.position, client.language)


def group(clients: list[registry.Client]) -> dict[WidgetConfig, list[registry.Client]]:
    """The clients of each configuration, in registry order."""
    groups: dict[WidgetConfig, list[registry.Client]] = {}
    for client in clients:
        groups.setdefault(config_of(client), []).append(client)
    return groups
