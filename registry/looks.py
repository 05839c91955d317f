"""How a client's widget may look: the one list of themes, positions and demo-page fonts.

The widget lines carry their own copies in JavaScript (a page must not wait for a list from us);
``tests/registry/test_looks.py`` checks each line's source and its ``.d.ts`` against these.
"""

from __future__ import annotations

# Theme -> the first major line that has it: rose and teal came with v2 (v1 throws a RangeError).
THEMES: dict[str, int] = {"purple": 1, "blue": 1, "green": 1, "dark": 1, "rose": 2, "teal": 2}
POSITIONS: tuple[str, ...] = ("bottom-right", "bottom-left", "top-right", "top-left")
# Demo pages only: the type the page is set in, so it resembles the client's own site.
FONTS: tuple[str, ...] = ("sans", "serif", "rounded", "mono")


def themes_of_line(major: int) -> tuple[str, ...]:
    """The themes a widget of major line ``major`` knows, in the widget's own order."""
    return tuple(theme for theme, since in THEMES.items() if since <= major)
