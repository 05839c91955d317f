"""The widget lines' own lists of themes and positions are the registry's."""

import re
from pathlib import Path

import pytest

from registry import POSITIONS, THEMES, themes_of_line

WIDGET = Path(__file__).resolve().parents[2] / "widget"


def js_list(source: str, name: str) -> tuple[str, ...]:
    match = re.search(rf"const {name} = \[([^\]]*)\];", source)
    assert match, f"no const {name} = [...] in the widget source"
    return tuple(re.findall(r"'([^']+)'", match[1]))


def ts_union(source: str, name: str) -> tuple[str, ...]:
    match = re.search(rf"export type {name} = ([^;]+);", source)
    assert match, f"no type {name} in the .d.ts"
    return tuple(re.findall(r"'([^']+)'", match[1]))


@pytest.mark.parametrize("line", [1, 2])
def test_each_line_knows_the_themes_and_positions_the_registry_allows_it(line):
    source = (WIDGET / f"v{line}" / "retell-widget.js").read_text()
    assert js_list(source, "THEMES") == themes_of_line(line)
    assert js_list(source, "POSITIONS") == POSITIONS


def test_the_type_declarations_say_the_same():
    declarations = (WIDGET / "v2" / "retell-widget.d.ts").read_text()
    assert ts_union(declarations, "RetellWidgetTheme") == themes_of_line(2)
    assert ts_union(declarations, "RetellWidgetPosition") == POSITIONS


def test_v2_has_every_theme():
    assert themes_of_line(2) == tuple(THEMES) and themes_of_line(1) == ("purple", "blue", "green", "dark")
