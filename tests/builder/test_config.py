import re

import pytest

from builder.config import ConfigError, load_config

SITE = '''[site]
name = "Retell Widget"
cdn_url = "https://cdn.example"
docs_url = "https://docs.example"
proxy_url = "https://api.example/api/create-web-call"
sdk_url = "https://cdn.example/sdk/retell-web-client.js"
'''


def load(tmp_path, text):
    (tmp_path / "src").mkdir(exist_ok=True)
    (tmp_path / "site.toml").write_text(text)
    (tmp_path / "src" / "site.toml").write_text(text)
    return load_config(tmp_path / "src", tmp_path, tmp_path / "out")


def test_reads_budgets_with_their_lines(tmp_path):
    config = load(tmp_path, SITE + '\n[budgets]\n"v1/retell-widget.js" = 6000\n"v2/retell-widget.css" = 900\n')
    assert [(b.path, b.max_gzip, b.line) for b in config.budgets] == [("v1/retell-widget.js", 6000, 9), ("v2/retell-widget.css", 900, 10)]
    assert config.archive == tmp_path / "src" / "releases"


@pytest.mark.parametrize("extra, message", [
    ('[budgets]\n"v1/retell-widget.js" = "6 KB"\n', r"site\.toml:9: budget for 'v1/retell-widget\.js' must be a positive number of gzip bytes"),
    ('[budgets]\n"v1/retell-widget.js" = 0\n', r"must be a positive number of gzip bytes, got 0"),
    ('[budgets]\n"retell-widget.js" = 10\n', r"site\.toml:9: budget key 'retell-widget\.js' must be a CDN path"),
    ('budgets = 5\n', r"\[budgets\] must be a table"),
    ('[sizes]\nx = 1\n', r"site\.toml:8: unknown table \[sizes\]"),
])
def test_rejects_bad_budgets(tmp_path, extra, message):
    with pytest.raises(ConfigError) as info:
        load(tmp_path, SITE + "\n" + extra if not extra.startswith("budgets") else SITE.replace("[site]", extra + "[site]"))
    assert any(re.search(message, e) for e in info.value.errors), info.value.errors


@pytest.mark.parametrize("key, toml, value", [("cdn_url", '"cdn.example"', "cdn.example"),
                                              ("docs_url", '"ftp://docs.example"', "ftp://docs.example"),
                                              ("proxy_url", "5", 5), ("sdk_url", '"/sdk/retell-web-client.js"', "/sdk/retell-web-client.js")])
def test_rejects_urls_that_are_not_absolute_http(tmp_path, key, toml, value):
    with pytest.raises(ConfigError) as info:
        load(tmp_path, re.sub(rf"^{key} = .*$", f"{key} = {toml}", SITE, flags=re.M))
    assert info.value.errors == [f"{tmp_path / 'src' / 'site.toml'}: [site] {key} must be an absolute http(s) URL, got {value!r}"]
