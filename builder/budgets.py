"""Size budgets: the most gzip bytes a CDN file may have, from ``[budgets]`` in site.toml."""

from __future__ import annotations

from builder import cdn
from builder.assets import Encoded
from builder.config import BuildConfig


def check_budgets(config: BuildConfig, tree: cdn.Tree, encoded: dict[str, Encoded],
                  other: dict[str, Encoded] | None = None) -> tuple[list[str], list[str]]:
    """Every budget as 'path: size / budget gzip bytes', and an error for each one exceeded.
    ``other`` holds CDN files outside the widget folders (the SDK), by their CDN path."""
    lines, errors = [], []
    for budget in config.budgets:
        folder, _, name = budget.path.partition("/")
        match = next((f for f in tree.folders if f.name == folder), None)
        enc = encoded.get(f"{match.release.version}/{name}") if match else (other or {}).get(budget.path)
        if enc is None:
            errors.append(f"{config.site_path}:{budget.line}: budget for {budget.path}, which the build does not produce")
            continue
        size = len(enc.gzip)
        verdict = "ok" if size <= budget.max_gzip else "OVER"
        lines.append(f"{budget.path}: {size:,} / {budget.max_gzip:,} gzip bytes {verdict}")
        if size > budget.max_gzip:
            errors.append(f"{config.site_path}:{budget.line}: {budget.path} is {size:,} gzip bytes, "
                          f"over its budget of {budget.max_gzip:,}")
    return lines, errors
