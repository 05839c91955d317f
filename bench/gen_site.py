"""A synthetic site source for the builder benchmark: docs pages, registry clients and releases.

``generate(root)`` writes ``root/site_src`` and ``root/widget`` (the repository's templates,
site settings, v1 widget sources, the shared call core and vendored SDK, with generated content), deterministic for a given size, so
two runs and two machines build the same thing. ``python -m bench.gen_site DIR`` does the same.

Every docs page has the same shape (a title "Page N about ...", five sections, a table, a code
block, links to other pages); its prose comes from one of two corpora:

- ``uniform`` (the default, what bench.builder measures): every word drawn from one 65-word list,
  so every word is on nearly every page, about 12 times each.
- ``docs``: each page takes a topic, one of the repository's own docs pages (site_src/docs/*.md),
  and most of its sentences from that page's prose, the rest from the other pages, so words are
  as frequent, as rare and as clustered on topic pages as in real documentation. It follows the
  docs as they are in the checkout: a docs change changes the pages made from them.
"""

from __future__ import annotations

import argparse
import json
import functools
import random
import re
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path

from registry import POSITIONS, themes_of_line

REPO = Path(__file__).resolve().parent.parent
_WORDS = (
    "agent widget proxy token origin browser call voice client registry release cache header latency "
    "budget script module element shadow button microphone session transcript policy request response "
    "server domain secure context build page docs anchor table column value option event state error "
    "retry limit window minute second bundle gzip brotli integrity version line stable archive deploy"
).split()
_SECTIONS = ("Overview", "Configuration", "Examples", "Troubleshooting", "Reference")
_THEMES = themes_of_line(1)  # the generated clients pin v1 releases
_POSITIONS = POSITIONS
CORPORA = ("uniform", "docs")
_TOPIC_SHARE = 0.8  # of a docs-corpus page's sentences, the share taken from its topic page


@dataclass(frozen=True)
class SiteSize:
    pages: int = 1000
    clients: int = 1000
    releases: int = 50
    words: int = 400  # per docs page, roughly


SMOKE = SiteSize(pages=12, clients=10, releases=3, words=120)


def generate(root: Path, size: SiteSize = SiteSize(), seed: int = 7, corpus: str = "uniform") -> Path:
    """Write the source under ``root`` (replacing it), the docs' prose from ``corpus`` (one of
    ``CORPORA``); return ``root``."""
    if corpus not in CORPORA:
        raise ValueError(f"unknown corpus {corpus!r}: expected one of {', '.join(CORPORA)}")
    rng = random.Random(seed)
    if root.exists():
        shutil.rmtree(root)
    src = root / "site_src"
    src.mkdir(parents=True)
    shutil.copytree(REPO / "site_src" / "templates", src / "templates")
    (src / "site.toml").write_text(_site_toml(), encoding="utf-8")
    shutil.copytree(REPO / "widget" / "v1", root / "widget" / "v1")
    shutil.copytree(REPO / "widget" / "core", root / "widget" / "core")  # the call core v1 loads on intent
    # Retell's SDK is part of every build of the product: the vendored bundle, as it is.
    shutil.copytree(REPO / "widget" / "sdk", root / "widget" / "sdk")
    versions = _releases(src, size.releases)
    (src / "docs").mkdir()
    for number in range(1, size.pages + 1):
        (src / "docs" / f"{_slug(number)}.md").write_text(page_text(number, size, rng, corpus), encoding="utf-8")
    (src / "clients.toml").write_text(clients_text(size.clients, versions), encoding="utf-8")
    return root


def _site_toml() -> str:
    """The repository's site settings, with the size budgets of the one line generated (v1) and the SDK."""
    document = tomllib.loads((REPO / "site_src" / "site.toml").read_text(encoding="utf-8"))
    lines = ["[site]", *(f"{key} = {json.dumps(value)}" for key, value in document["site"].items()), "", "[budgets]"]
    lines += [f"{json.dumps(key)} = {value}" for key, value in document.get("budgets", {}).items() if key.startswith(("v1/", "sdk/"))]
    return "\n".join(lines) + "\n"


def _slug(number: int) -> str:
    return f"page-{number:04d}"


def _sentence(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(_WORDS) for _ in range(words))
    return text[0].upper() + text[1:] + "."


class _Uniform:
    """The flat corpus: every word drawn from ``_WORDS`` (its calls on ``rng`` are the ones the
    generator always made, so the default site stays the same)."""

    def page(self, rng: random.Random) -> _Uniform:
        return self

    def title(self, number: int, rng: random.Random) -> str:
        return f"Page {number} about {rng.choice(_WORDS)}"

    def prose(self, rng: random.Random, words: int) -> list[str]:
        return [_sentence(rng, 12) for _ in range(max(1, words // 12))]

    def sentence(self, rng: random.Random, words: int) -> str:
        return _sentence(rng, words)

    def word(self, rng: random.Random) -> str:
        return rng.choice(_WORDS)


@dataclass(frozen=True)
class _Topic:
    """One real docs page: its title, its prose's sentences, and its words of 4 letters or more."""

    title: str
    sentences: tuple[str, ...]
    words: tuple[str, ...]


class _DocsTopic:
    """A page of the docs corpus: most sentences from its topic, the rest from any docs page."""

    def __init__(self, topic: _Topic, topics: tuple[_Topic, ...]) -> None:
        self.topic, self.topics = topic, topics

    def title(self, number: int, rng: random.Random) -> str:
        return f"Page {number} about {self.topic.title.lower()}"

    def prose(self, rng: random.Random, words: int) -> list[str]:
        sentences: list[str] = []
        while not sentences or sum(len(x.split()) for x in sentences) < words:
            sentences.append(self.sentence(rng, words))
        return sentences

    def sentence(self, rng: random.Random, words: int) -> str:
        source = self.topic if rng.random() < _TOPIC_SHARE else rng.choice(self.topics)
        return rng.choice(source.sentences)

    def word(self, rng: random.Random) -> str:
        return rng.choice(self.topic.words)


class _Docs:
    def __init__(self) -> None:
        self.topics = _docs_topics()

    def page(self, rng: random.Random) -> _DocsTopic:
        return _DocsTopic(rng.choice(self.topics), self.topics)


_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z`\"(])")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+\.)\s+")


@functools.cache
def _docs_topics() -> tuple[_Topic, ...]:
    topics = []
    for path in sorted((REPO / "site_src" / "docs").glob("*.md")):
        text = path.read_text(encoding="utf-8")
        title = re.search(r"^title:\s*(.+)$", text, re.M)
        sentences = tuple(_prose_sentences(text))
        words = tuple(w.lower() for s in sentences for w in re.findall(r"[A-Za-z]{4,}", _LINK.sub(r"\1", s)))
        if title and sentences:
            topics.append(_Topic(title.group(1).strip(), sentences, words))
    return tuple(topics)


def _prose_sentences(markdown: str) -> list[str]:
    """The sentences of a docs page's paragraphs and list items: not its meta lines, headings,
    tables or code blocks; links become their text (their targets are not on the generated site)."""
    paragraphs: list[list[str]] = [[]]
    fenced = False
    body = markdown.split("\n\n", 1)[1] if "\n\n" in markdown else ""  # after the meta lines
    for line in body.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            paragraphs.append([])
        elif fenced or not line.strip() or line.lstrip().startswith(("#", "|", "<")):
            paragraphs.append([])
        else:
            if _LIST_ITEM.match(line):
                paragraphs.append([])
            paragraphs[-1].append(_LIST_ITEM.sub("", line).strip().removeprefix("> "))
    sentences = []
    for lines in paragraphs:
        for sentence in _SENTENCE_END.split(_LINK.sub(r"\1", " ".join(lines))):
            sentence = sentence.strip()
            if sentence.endswith(":"):
                sentence = sentence[:-1] + "."
            # Whole sentences only, with their code spans closed and no raw HTML.
            if (len(sentence.split()) >= 5 and sentence[-1] in ".!?" and sentence.count("`") % 2 == 0
                    and "<" not in re.sub(r"`[^`]*`", "", sentence)):
                sentences.append(sentence)
    return sentences


def _corpus(name: str) -> _Uniform | _Docs:
    return _Docs() if name == "docs" else _Uniform()


def page_text(number: int, size: SiteSize, rng: random.Random, corpus: str = "uniform") -> str:
    """One docs page: meta lines, headings, paragraphs, a table, a code block and internal links."""
    per_section = max(1, (size.words - 60) // len(_SECTIONS))
    voice = _corpus(corpus).page(rng)
    lines = [f"title: {voice.title(number, rng)}", f"order: {number}", "",
             f"# Page {number}", ""]
    for index, section in enumerate(_SECTIONS):
        lines += [f"## {section}", ""]
        other = rng.randint(1, size.pages)
        target = rng.choice(_SECTIONS).lower()
        words = voice.prose(rng, per_section)
        words.insert(1, f"See [page {other}]({_slug(other)}.md#{target}) for the {target}.")
        lines += [" ".join(words), ""]
        if index == 1:
            lines += ["| option | default | meaning |", "| --- | --- | --- |"]
            lines += [f"| `{voice.word(rng)}{i}` | {rng.randint(1, 100)} | {_phrase(voice, rng, 5)} |" for i in range(4)]
            lines.append("")
        if index == 2:
            lines += ["```js", "new RetellWidget({", f'  agentId: "agent_{number:04d}",',
                      '  proxyEndpoint: "https://api.example.com/api/create-web-call",',
                      f'  position: "{rng.choice(_POSITIONS)}",', "});", "```", ""]
            lines += ["### Details", "", voice.sentence(rng, 20), ""]
    return "\n".join(lines)


def _phrase(voice: _Uniform | _DocsTopic, rng: random.Random, words: int) -> str:
    """A table cell's few words: the flat corpus's sentence, or words from the page's topic."""
    if isinstance(voice, _Uniform):
        return voice.sentence(rng, words)
    text = " ".join(voice.word(rng) for _ in range(words))
    return text[0].upper() + text[1:] + "."


def clients_text(count: int, versions: list[str]) -> str:
    blocks = []
    for number in range(1, count + 1):
        blocks.append("\n".join([
            "[[client]]",
            f'id = "client-{number:04d}"',
            f'name = "Client {number}"',
            f'origins = ["https://www.client-{number:04d}.example", "https://*.client-{number:04d}.example"]',
            f'agents = ["agent_client_{number:04d}"]',
            f'theme = "{_THEMES[number % len(_THEMES)]}"',
            f'position = "{_POSITIONS[number % len(_POSITIONS)]}"',
            f'widget_version = "{versions[number % len(versions)]}"',
            f'brand_color = "#{(number * 2654435761) % 0xFFFFFF:06x}"',
        ]))
    return "\n\n".join(blocks) + "\n"


def _releases(src: Path, count: int) -> list[str]:
    """``count`` v1 releases: the newest built from widget/v1, every older one archived.

    Older releases reuse the repository's archived 1.0.0 files (its record's integrity holds
    for any version number), as ``python -m builder freeze`` would have kept them.
    """
    archived = REPO / "site_src" / "releases" / "1.0.0"
    record = json.loads((archived / "release.json").read_text(encoding="utf-8"))
    versions = [f"1.{minor}.0" for minor in range(count)]
    (src / "changelog").mkdir()
    for minor, version in enumerate(versions):
        (src / "changelog" / f"{version}.md").write_text(
            f"version: {version}\ndate: 2026-{1 + minor // 28 % 12:02d}-{1 + minor % 28:02d}\nlanguages: en\n\n"
            f"Release {version} of the v1 line.\n\n- One change.\n- Another change.\n", encoding="utf-8")
        if version != versions[-1]:
            folder = src / "releases" / version
            folder.mkdir(parents=True)
            for name in record["files"]:
                shutil.copy(archived / name, folder / name)
            (folder / "release.json").write_text(json.dumps({**record, "version": version}, indent=2), encoding="utf-8")
    return versions


def touch_page(root: Path, number: int = 1, edit: int = 0) -> Path:
    """Change one docs page's text (``edit`` makes each change different); return its path."""
    path = root / "site_src" / "docs" / f"{_slug(number)}.md"
    text = path.read_text(encoding="utf-8").split("\n<!-- edit")[0]
    path.write_text(f"{text}\n<!-- edit -->\nEdited paragraph number {edit}.\n", encoding="utf-8")
    return path


def touch_client(root: Path, number: int = 1, edit: int = 0) -> Path:
    """Rename one registry client (``edit`` makes each change different); return the registry's path."""
    path = root / "site_src" / "clients.toml"
    text = path.read_text(encoding="utf-8")
    start = text.index(f'id = "client-{number:04d}"')
    name_start = text.index("name = ", start)
    name_end = text.index("\n", name_start)
    path.write_text(f'{text[:name_start]}name = "Client {number} edit {edit}"{text[name_end:]}', encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gen_site", description=__doc__)
    parser.add_argument("root", type=Path, help="folder to write site_src/ and widget/ into (replaced)")
    parser.add_argument("--pages", type=int, default=SiteSize.pages)
    parser.add_argument("--clients", type=int, default=SiteSize.clients)
    parser.add_argument("--releases", type=int, default=SiteSize.releases)
    parser.add_argument("--words", type=int, default=SiteSize.words)
    parser.add_argument("--corpus", choices=CORPORA, default="uniform",
                        help="where the docs pages' prose comes from: one flat 65-word list (uniform, "
                             "the default) or the repository's own docs pages (docs)")
    args = parser.parse_args(argv)
    generate(args.root, SiteSize(args.pages, args.clients, args.releases, args.words), corpus=args.corpus)
    print(f"wrote {args.root}/site_src and {args.root}/widget")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
