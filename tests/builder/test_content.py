"""The changelog's meta lines say what each release's own files do."""

import re

import pytest

from builder.content import convert, release_from
from tests.conftest import REPO

CHANGELOG = sorted((REPO / "site_src/changelog").glob("*.md"))


def _files(version: str, line: str) -> str:
    """Every published script of a release: its archive, or its line's source and the shared call
    core if not frozen yet."""
    archive = REPO / "site_src/releases" / version
    folders = [archive] if archive.is_dir() else [REPO / "widget" / line, REPO / "widget/core"]
    return "\n".join(p.read_text(encoding="utf-8") for folder in folders for p in sorted(folder.rglob("*.js")))


@pytest.mark.parametrize("path", CHANGELOG, ids=[p.stem for p in CHANGELOG])
def test_each_release_records_what_its_files_do(path):
    errors: list[str] = []
    entry = release_from(path, convert(path.read_text(encoding="utf-8")), "https://docs.test", errors)
    assert entry is not None, errors
    code = _files(entry.version, entry.line)
    # v2's strings are a table per language; a script without one (v1) speaks English only.
    table = re.search(r"LANGUAGES\s*=\s*\{([^}]*)\}", code)
    languages = tuple(k.strip() for k in table[1].split(",")) if table else ("en",)
    assert entry.release.languages == languages
    assert entry.release.supports("bot-token") == ("bot_token" in code)
    # The create request's fields that say a release sends variables and the consent hash.
    assert entry.release.supports("dynamic-variables") == ("retell_llm_dynamic_variables" in code)
    assert entry.release.supports("consent") == ("consent_hash" in code)
