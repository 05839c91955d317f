"""The one exception for input with several problems: every reason, reported together."""

from __future__ import annotations


class ErrorList(Exception):
    """Every problem found, one message per entry (``file:line: message`` where there is a file).

    Each part names its own subclass (``RegistryError``, ``ConfigError``, ``SettingsError``...),
    so a caller catches the part it called and prints ``errors`` one per line.
    """

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors
