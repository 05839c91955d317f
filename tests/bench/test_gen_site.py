"""The benchmark site's docs pages: the uniform corpus as measured so far, the docs-derived one."""

from __future__ import annotations

import hashlib
import random
import re
from pathlib import Path

import pytest

from bench.gen_site import SMOKE, SiteSize, _docs_topics, _prose_sentences, generate, page_text


def _pages(corpus: str, count: int = 12, size: SiteSize = SMOKE) -> list[str]:
    rng = random.Random(7)
    return [page_text(number, size, rng, corpus) for number in range(1, count + 1)]


def test_uniform_pages_are_the_ones_measured_so_far() -> None:
    # bench.builder's committed figures were measured on these pages: a change here changes them.
    assert _pages("uniform") == [page_text(n, SMOKE, rng) for rng in [random.Random(7)] for n in range(1, 13)]
    assert hashlib.sha256("".join(_pages("uniform")).encode()).hexdigest()[:16] == "fd3748ba737701d9"


def test_docs_pages_keep_the_shape_and_follow_their_topic() -> None:
    size = SiteSize(pages=40)
    pages = _pages("docs", 40, size)
    assert pages == _pages("docs", 40, size)  # seeded
    titles = {t.title.lower(): t for t in _docs_topics()}
    assert len(titles) == len(list((Path(__file__).parents[2] / "site_src/docs").glob("*.md")))
    uniform = _pages("uniform", 1, size)[0].split("\n\n")
    from_topic = from_others = 0
    for number, text in enumerate(pages, 1):
        first = text.split("\n", 1)[0]
        assert first.startswith(f"title: Page {number} about "), first
        topic = titles[first.removeprefix(f"title: Page {number} about ")]
        # The same blocks as a uniform page: headings, a table, a code block, a link per section.
        blocks = text.split("\n\n")
        assert [b for b in blocks if b.startswith("#")] == [f"# Page {number}"] + [b for b in uniform if b.startswith("##")]
        assert len(blocks) == len(uniform) and text.count("| --- | --- | --- |") == 1 and text.count("```") == 2
        links = re.findall(r"\]\(([^)]*)\)", text)
        assert len(links) == 5 and all(re.fullmatch(r"page-\d{4}\.md#[a-z]+", link) for link in links), links
        for sentence in _prose_sentences(text):
            if sentence.startswith("See page "):  # the generated link
                continue
            from_topic += sentence in topic.sentences
            from_others += sentence not in topic.sentences
    assert from_topic > 2 * from_others > 0  # most sentences from the topic, some from other pages


def test_prose_is_paragraphs_and_list_items_only() -> None:
    markdown = ("title: T\norder: 1\n\n# Heading words here now\n\nFirst sentence has five words. See [the proxy](proxy.md#x)\n"
                "for more of them:\n\n```sh\nCode line is never prose.\n```\n\n| a | b |\n| --- | --- |\n| Table cells are not prose. | x |\n\n"
                "- A list item of five words.\n- Another `open code span. Dropped then.\n\n<div>Raw HTML is dropped too.</div>\n")
    assert _prose_sentences(markdown) == ["First sentence has five words.", "See the proxy for more of them.",
                                          "A list item of five words."]


def test_an_unknown_corpus_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown corpus 'flat': expected one of uniform, docs"):
        generate(tmp_path / "site", SMOKE, corpus="flat")
    assert not (tmp_path / "site").exists()
