"""A widget configuration groups the clients whose browsers run the same widget code."""

from __future__ import annotations

from harness.widget_config import WidgetConfig, config_of, group
from registry import load

CLIENT = '''[[client]]
id = "{id}"
name = "{id}"
origins = ["https://{id}.example"]
agents = ["agent_{id}"]
theme = "{theme}"
position = "bottom-right"
widget_version = "{version}"
brand_color = "{color}"
{extra}
'''


def test_what_only_the_proxy_or_the_page_decides_is_not_part_of_it(tmp_path):
    entries = [
        dict(id="a", theme="blue", version="2.5.0", color="#123456", extra=""),
        # other origins, agents, fixed variables, page colours: the same widget code
        dict(id="b", theme="blue", version="2.5.0", color="#654321", extra='variables = { x = "y" }'),
        dict(id="c", theme="blue", version="2.1.0", color="#123456", extra=""),  # another release
        dict(id="d", theme="blue", version="2.5.0", color="#123456",
             extra='bot_check = "turnstile"\nbot_site_key = "0x4AAAAAAAd"'),  # a bot check script
        dict(id="e", theme="blue", version="2.5.0", color="#123456",
             extra='consent = { text = "We record calls.", url = "https://e.example/privacy" }'),  # a consent step
        # another consent text: the browser hashes each text itself, so each is its own configuration
        dict(id="f", theme="blue", version="2.5.0", color="#123456",
             extra='consent = { text = "We record calls. ✓", url = "https://e.example/privacy" }'),
        dict(id="g", theme="blue", version="2.5.0", color="#123456", extra='language = "de"'),  # other strings
        # page variables: the per-client create sends them as the page does
        dict(id="h", theme="blue", version="2.5.0", color="#123456", extra='page_variables = ["page_path"]'),
    ]
    (tmp_path / "clients.toml").write_text("\n".join(CLIENT.format(**e) for e in entries))
    clients = list(load(tmp_path / "clients.toml").clients)
    groups = group(clients)
    assert [[c.id for c in members] for members in groups.values()] == [["a", "b", "h"], ["c"], ["d"], ["e"], ["f"], ["g"]]
    assert config_of(clients[0]) == WidgetConfig("2.5.0", None, None, True, "blue", "bottom-right", None)
    assert config_of(clients[3]).bot_check == "turnstile" and config_of(clients[4]).consent == clients[4].consent.hash
    assert str(config_of(clients[3])) == "v2.5.0 blue bottom-right, bot check turnstile"
    assert str(config_of(clients[6])) == "v2.5.0 blue bottom-right, lang de"
