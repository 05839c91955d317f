import importlib

import pytest

from registry import ErrorList

# Every part's error list, imported in the test: harness.check would bring Playwright into collection.
_PARTS = ["registry.clients:RegistryError", "builder.config:ConfigError", "builder.build:BuildError",
          "builder.publish:PublishError", "proxy.settings:SettingsError", "harness.check:CheckError",
          "harness.script:ScriptError"]


def _error_class(name: str) -> type[ErrorList]:
    module, _, cls = name.partition(":")
    return getattr(importlib.import_module(module), cls)


def test_an_error_list_keeps_every_message_and_joins_them():
    error = ErrorList(["a.toml:1: first", "a.toml:2: second"])
    assert error.errors == ["a.toml:1: first", "a.toml:2: second"]
    assert str(error) == "a.toml:1: first\na.toml:2: second"


@pytest.mark.parametrize("name", _PARTS)
def test_every_part_raises_the_one_error_list(name):
    error = _error_class(name)(["x: bad"])
    assert isinstance(error, ErrorList)
    assert error.errors == ["x: bad"] and str(error) == "x: bad"


def test_build_and_publish_errors_keep_their_extras():
    build_error, publish_error = _error_class("builder.build:BuildError"), _error_class("builder.publish:PublishError")
    assert build_error(["x"], notes=["n"]).notes == ["n"]
    assert build_error(["x"]).notes == []
    assert publish_error(["x"], status=2).status == 2
    assert publish_error(["x"]).status == 1
