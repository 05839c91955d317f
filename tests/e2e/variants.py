"""Several variants of a browser test in one page, each a subtest that passes or fails by name.

A new page costs Chromium about 1.6 s of CPU on these machines (a renderer process and its
setup), several times what another visit in the same page costs; the suite is CPU-bound, so
variants that only change what a visit loads share one page. Each variant starts with a fresh
visit. Keep ``pytest.mark.parametrize`` for variants that depend on a page's first load (its HTTP
cache, its init scripts) or on a browser of their own.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any


def in_one_page(names: str, values: Sequence[Any]) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Like ``@pytest.mark.parametrize(names, values)`` (one name, or several separated by commas
    with a tuple per variant), but one test runs every variant in turn, in the same page, as
    subtests named by the first value: ``[first=value]`` in the report."""
    keys = [n.strip() for n in names.split(",")]

    def decorate(test: Callable[..., None]) -> Callable[..., None]:
        signature = inspect.signature(test)
        kept = [p for p in signature.parameters.values() if p.name not in (*keys, "subtests")]
        subtests = inspect.Parameter("subtests", inspect.Parameter.KEYWORD_ONLY)

        @functools.wraps(test)
        def each(*args: Any, subtests: Any, **fixtures: Any) -> None:
            for value in values:
                given = dict(zip(keys, value if len(keys) > 1 else (value,), strict=True))
                with subtests.test(msg=f"{keys[0]}={given[keys[0]]}"):
                    test(*args, **fixtures, **given)

        each.__signature__ = signature.replace(parameters=[*kept, subtests])  # type: ignore[attr-defined]
        return each

    return decorate
