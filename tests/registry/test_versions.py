import re

import pytest

from registry.versions import EXACT_FOLDER, PATTERN, Version, VersionError, line_of


def test_parses_a_release_and_a_pre_release():
    assert Version.parse("2.1.0") == Version(2, 1, 0)
    assert Version.parse("2.0.0-beta.1") == Version(2, 0, 0, ("beta", 1))
    assert Version.parse("10.20.30-rc.0.x-y.7z") == Version(10, 20, 30, ("rc", 0, "x-y", "7z"))
    assert Version.parse("2.0.0-beta.1").stable is False and Version.parse("2.0.0").stable is True


@pytest.mark.parametrize("text", ["1.0.0", "0.0.0", "2.0.0-beta.1", "1.2.3-0a.1", "10.20.30-alpha-1"])
def test_prints_as_it_was_written(text):
    assert str(Version.parse(text)) == text and Version.is_valid(text)


@pytest.mark.parametrize("text", [
    "", "1", "1.0", "v1.0.0", "1.0.0.0", " 1.0.0", "1.0.0 ", "01.0.0", "1.00.0", "1.0.01", "1.0.0-", "1.0.0-beta.",
    "1.0.0-beta..1", "1.0.0-beta.01", "1.0.0-beta_1", "1.0.0+build.5", "1.0.0-beta+exp", "latest", "-1.0.0", "1.0.0\n",
    # Only ASCII digits: Python's \\d would read "1\u0660" (an Arabic-Indic zero) as 10.
    "1\u0660.0.0", "1.0.0-beta.\u0661",
])
def test_refuses_anything_but_semver_without_build_metadata(text):
    with pytest.raises(VersionError) as info:
        Version.parse(text)
    assert str(info.value) == f"{text!r} is not a version: MAJOR.MINOR.PATCH, optionally -pre.release (SemVer)"
    assert not Version.is_valid(text)


@pytest.mark.parametrize("value", [None, 1, 1.0, ["1.0.0"]])
def test_refuses_what_is_not_text(value):
    with pytest.raises(VersionError, match="is not a version"):
        Version.parse(value)  # type: ignore[arg-type]
    assert not Version.is_valid(value)  # type: ignore[arg-type]


def test_a_version_error_is_a_value_error():
    assert issubclass(VersionError, ValueError)


def test_orders_by_semver_precedence():
    # SemVer 2.0.0, section 11's own example, shuffled: numbers numerically, pre-releases before
    # their release, numeric identifiers before alphanumeric ones, a longer set after its prefix.
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11",
               "1.0.0-rc.1", "1.0.0", "1.0.1", "1.2.0", "1.10.0", "2.0.0-0", "2.0.0-1", "2.0.0-10", "2.0.0-a", "2.0.0",
               "10.0.0"]
    shuffled = ordered[::2] + ordered[1::2]
    assert [str(v) for v in sorted(Version.parse(t) for t in shuffled)] == ordered
    assert Version.parse("2.0.0-beta.2") < Version.parse("2.0.0-beta.10")  # not as text
    assert Version.parse("1.0.0") <= Version.parse("1.0.0") and Version.parse("1.0.0") > Version.parse("1.0.0-rc.1")
    assert max(Version.parse(t) for t in ("1.9.0", "1.10.0", "1.10.0-rc.1")) == Version.parse("1.10.0")


def test_a_version_compares_only_with_versions():
    assert Version.parse("1.0.0") != "1.0.0"
    with pytest.raises(TypeError):
        Version.parse("1.0.0") < "1.0.1"  # noqa: B015


def test_line_and_folder_name_the_cdn_folders():
    assert Version.parse("2.1.0").line == "v2"
    assert Version.parse("2.1.0").folder == "v2.1.0"
    assert Version.parse("2.0.0-beta.1").line == "v2" and Version.parse("2.0.0-beta.1").folder == "v2.0.0-beta.1"
    assert Version.parse("0.9.1").line == "v0"


def test_next_patch_is_a_release():
    assert Version.parse("2.1.9").next_patch() == Version(2, 1, 10)
    assert Version.parse("2.1.0-rc.1").next_patch() == Version(2, 1, 1)


@pytest.mark.parametrize("folder, major", [("v1", 1), ("v2", 2), ("v10", 10), ("v0", 0)])
def test_line_of_reads_a_line_folder(folder, major):
    assert line_of(folder) == major


@pytest.mark.parametrize("folder", ["", "v", "1", "V1", "v01", "v1.0.0", "v2.1", "latest", "sdk", "v1/", " v1", "v-1", "v1\u0660"])
def test_line_of_is_none_for_anything_else(folder):
    assert line_of(folder) is None


@pytest.mark.parametrize("folder", ["v1.0.0", "v2.0.0-beta.1", "v10.20.30"])
def test_exact_folders_name_one_version(folder):
    assert EXACT_FOLDER.fullmatch(folder)
    assert Version.parse(folder[1:]).folder == folder


@pytest.mark.parametrize("folder", ["v1", "latest", "1.0.0", "v1.0", "v01.0.0", "v1.0.0+b", "v1.0.0/", "sdk"])
def test_exact_folders_are_only_exact_versions(folder):
    assert not EXACT_FOLDER.fullmatch(folder)


def test_the_pattern_matches_what_parse_accepts():
    pattern = re.compile(PATTERN)
    for text in ("1.0.0", "2.0.0-beta.1"):
        assert pattern.fullmatch(text)
    for text in ("1.0", "1.0.0+b", "01.0.0"):
        assert not pattern.fullmatch(text)
