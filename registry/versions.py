"""The one version model: a widget (or SDK) release's version, as SemVer 2.0.0 reads it.

Every part reads and compares versions here: the changelog's ``version:``, a client's
``widget_version``, CDN folders (``v2``, ``v2.1.0``), the proxy's "update available", and the
immutable paths ``publish`` protects. Ordering is SemVer's precedence: a pre-release sorts before
its release (2.0.0-beta.1 < 2.0.0), numeric identifiers numerically (beta.2 < beta.10), and
numeric before alphanumeric ones. Build metadata (``+...``) is not accepted: no release has any.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

_NUMBER = r"(?:0|[1-9][0-9]*)"
_IDENTIFIER = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
# The text of a version, for patterns that embed it (CDN paths).
PATTERN = rf"{_NUMBER}\.{_NUMBER}\.{_NUMBER}(?:-{_IDENTIFIER}(?:\.{_IDENTIFIER})*)?"
_VERSION = re.compile(rf"^({_NUMBER})\.({_NUMBER})\.({_NUMBER})(?:-({_IDENTIFIER}(?:\.{_IDENTIFIER})*))?$")
_LINE = re.compile(rf"^v({_NUMBER})$")
# A CDN folder or path segment naming an exact version: "v2.1.0" (widget) or "2.0.8" (under sdk/).
EXACT_FOLDER = re.compile(rf"^v{PATTERN}$")


class VersionError(ValueError):
    """Not a version; the message says what one looks like."""


@functools.total_ordering
@dataclass(frozen=True, slots=True)
class Version:
    major: int
    minor: int
    patch: int
    pre: tuple[int | str, ...] = ()  # ("beta", 1) for -beta.1; empty for a release

    @classmethod
    def parse(cls, text: str) -> Version:
        match = _VERSION.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise VersionError(f"{text!r} is not a version: MAJOR.MINOR.PATCH, optionally -pre.release (SemVer)")
        pre = tuple(int(p) if p.isdigit() else p for p in match[4].split(".")) if match[4] else ()
        return cls(int(match[1]), int(match[2]), int(match[3]), pre)

    @staticmethod
    def is_valid(text: str) -> bool:
        return isinstance(text, str) and _VERSION.fullmatch(text) is not None

    @property
    def stable(self) -> bool:
        return not self.pre

    @property
    def line(self) -> str:
        """The major line's CDN folder: ``v2`` for 2.1.0."""
        return f"v{self.major}"

    @property
    def folder(self) -> str:
        """The exact version's CDN folder: ``v2.1.0``."""
        return f"v{self}"

    def next_patch(self) -> Version:
        return Version(self.major, self.minor, self.patch + 1)

    def _key(self) -> tuple:
        # A release (no pre-release) sorts after all its pre-releases; among identifiers,
        # numbers sort numerically and before words.
        pre = tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in self.pre)
        return (self.major, self.minor, self.patch, 0 if self.pre else 1, pre)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() < other._key()

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        return text + "-" + ".".join(str(p) for p in self.pre) if self.pre else text


def line_of(folder: str) -> int | None:
    """The major number of a line folder (``v2`` -> 2), or None for anything else."""
    match = _LINE.fullmatch(folder)
    return int(match[1]) if match else None
