import datetime as dt

import pytest

from registry import FEATURES, Release
from registry.releases import parse_features, parse_languages

GOOD = {"line": "v2", "date": "2026-12-01", "stable": True, "changelog": "https://docs.test/changelog/2.2.0/",
        "features": ["bot-token"], "languages": ["en", "es", "de"]}


def test_a_release_reads_back_what_it_writes_and_says_what_it_supports():
    release = Release.from_json("2.2.0", GOOD)
    assert release == Release("2.2.0", dt.date(2026, 12, 1), GOOD["changelog"], ("bot-token",), ("en", "es", "de"))
    assert release.to_json() == GOOD and list(release.to_json()) == list(GOOD)
    assert release.line == "v2" and release.stable and release.supports("bot-token") and not release.supports("consent")
    assert Release.from_json("2.3.0-beta.1", GOOD | {"stable": False}).key < Release.from_json("2.3.0", GOOD).key


def test_every_feature_is_one_of_the_defined_set():
    assert FEATURES == ("bot-token", "consent", "dynamic-variables")
    with pytest.raises(ValueError, match="unknown feature 'bot_token' \\(expected one of: bot-token, consent, dynamic-variables\\)"):
        Release.from_json("2.2.0", GOOD).supports("bot_token")


@pytest.mark.parametrize("change, message", [
    ({"date": "1 Dec"}, "'date' must be YYYY-MM-DD, not '1 Dec'"),
    ({"changelog": None}, "'changelog' must be a string"),
    ({"features": ["captcha"]}, "'features' must be some of bot-token, consent, dynamic-variables, in that order, once each"),
    ({"features": "bot-token"}, "'features' and 'languages' must be lists of strings"),
    ({"languages": []}, "'languages' must list language codes such as 'en' or 'pt-BR', once each"),
    ({"languages": ["English"]}, "'languages' must list language codes such as 'en' or 'pt-BR', once each"),
    ({"line": "v1"}, "'line' and 'stable' must be 'v2' and true"),
    ({"stable": False}, "'line' and 'stable' must be 'v2' and true"),
])
def test_a_bad_release_entry_is_refused_with_what_is_wrong(change, message):
    with pytest.raises(ValueError) as info:
        Release.from_json("2.2.0", GOOD | change)
    assert str(info.value) == f"release '2.2.0': {message}"


def test_a_release_entry_names_every_missing_key_and_a_bad_version():
    with pytest.raises(ValueError) as info:
        Release.from_json("2.2.0", {"line": "v2", "date": "2026-12-01", "stable": True, "changelog": "x"})
    assert str(info.value) == "release '2.2.0': 'features' is missing; 'languages' is missing"
    with pytest.raises(ValueError, match="release '2.2': the version must be MAJOR.MINOR.PATCH"):
        Release.from_json("2.2", GOOD)
    with pytest.raises(ValueError, match="release '2.2.0': must be an object"):
        Release.from_json("2.2.0", [])
    with pytest.raises(ValueError, match="'features' must be some of"):
        Release("2.2.0", dt.date(2026, 12, 1), "x", ("consent", "bot-token"), ("en",))


def test_meta_lines_parse_into_the_defined_order_with_every_problem():
    assert parse_features("consent, bot-token") == (("bot-token", "consent"), [])
    assert parse_features("") == ((), [])
    assert parse_features("captcha, consent, consent") == (("consent",), [
        "unknown feature 'captcha' (expected some of: bot-token, consent, dynamic-variables)", "feature 'consent' is listed twice"])
    assert parse_languages("en, es, pt-BR") == (("en", "es", "pt-BR"), [])
    assert parse_languages(" ")[1] == ["no language listed (e.g. 'languages: en')"]
    assert parse_languages("EN, de, de")[1] == ["language 'EN' is malformed (a code such as 'en' or 'pt-BR')",
                                                "language 'de' is listed twice"]
