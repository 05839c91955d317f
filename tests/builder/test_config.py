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


@pytest.mark.parametrize("key, toml, value, line", [("cdn_url", '"cdn.example"', "cdn.example", 3),
                                                    ("docs_url", '"ftp://docs.example"', "ftp://docs.example", 4),
                                                    ("proxy_url", "5", 5, 5),
                                                    ("sdk_url", '"/sdk/retell-web-client.js"', "/sdk/retell-web-client.js", 6)])
def test_rejects_urls_that_are_not_absolute_http_at_their_line(tmp_path, key, toml, value, line):
    with pytest.raises(ConfigError) as info:
        load(tmp_path, re.sub(rf"^{key} = .*$", f"{key} = {toml}", SITE, flags=re.M))
    assert info.value.errors == [f"{tmp_path / 'src' / 'site.toml'}:{line}: [site] {key} must be an absolute http(s) URL, "
                                 f"got {value!r}"]


@pytest.mark.parametrize("text, message", [
    (SITE.replace('name = "Retell Widget"', 'name = " "'), "site.toml:2: [site] name must be a non-empty string"),
    # A missing key is reported at its table's line.
    (SITE.replace('name = "Retell Widget"\n', ""), "site.toml:1: [site] name must be a non-empty string"),
    (SITE.replace("[site]", "# the site\n\n[site]").replace('cdn_url = "https://cdn.example"\n', ""),
     "site.toml:3: [site] cdn_url must be an absolute http(s) URL, got None"),
    (SITE + 'colour = "blue"\n', "site.toml:7: [site] has unknown key 'colour'"),
    # A key of the same name in another table is not the [site] key.
    ('[budgets]\n"x/y.js" = 1\nname = 2\n' + SITE.replace('name = "Retell Widget"', "name = 3"),
     "site.toml:5: [site] name must be a non-empty string"),
    ('title = "x"\n', "site.toml:1: needs a [site] table"),
    ('# settings\nsite = "https://cdn.example"\n', "site.toml:2: needs a [site] table"),
    (SITE + "proxy_url = \n", "site.toml:7: invalid TOML: "),
])
def test_every_site_toml_error_names_its_line(tmp_path, text, message):
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    assert any(e.startswith(f"{tmp_path / 'src' / message}") for e in info.value.errors), info.value.errors


def test_overrides_have_no_line_and_say_so(tmp_path):
    load(tmp_path, SITE)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "src", tmp_path, tmp_path / "out",
                    {"cdn_url": "localhost:8000", "name": "", "colour": "blue"})
    assert info.value.errors == ["override 'colour' is not a site setting", "override 'name' must be a non-empty string",
                                 "override 'cdn_url' must be an absolute http(s) URL, got 'localhost:8000'"]


def test_missing_folders_and_files_are_named_without_a_line(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nowhere", tmp_path, tmp_path / "out")
    assert info.value.errors == [f"{tmp_path / 'nowhere'}: the site source folder does not exist"]
    (tmp_path / "src").mkdir()
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "src", tmp_path, tmp_path / "out")
    assert info.value.errors == [f"{tmp_path / 'src' / 'site.toml'}: missing; it needs a [site] table"]
    load(tmp_path, SITE)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "src", tmp_path / "no-widget", tmp_path / "out")
    assert info.value.errors == [f"{tmp_path / 'no-widget'}: the widget source folder does not exist"]
