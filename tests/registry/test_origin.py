import pytest

from registry import Origin, OriginPattern, parse_origin
from registry.origin import is_http_url


def test_parses_browser_origins():
    assert parse_origin("https://shop.example") == Origin("https", "shop.example", 443)
    assert parse_origin("http://client-a.localhost:8101") == Origin("http", "client-a.localhost", 8101)
    assert str(parse_origin("https://shop.example")) == "https://shop.example"


@pytest.mark.parametrize("text", [
    "null", "", "shop.example", "https://shop.example/", "https://shop.example/path", "https://user@shop.example",
    "ftp://shop.example", "https://SHOP.example", "https://shop.example:443", "http://shop.example:80",
    "https://shop.example:99999", "https://*.shop.example", "https://-bad.example", "https://shop.example?x=1",
])
def test_refuses_anything_but_a_serialised_origin(text):
    with pytest.raises(ValueError):
        parse_origin(text)


def test_exact_pattern_compares_scheme_host_and_port():
    pattern = OriginPattern.parse("https://shop.example")
    assert pattern.matches(parse_origin("https://shop.example"))
    for other in ["http://shop.example", "https://shop.example:8443", "https://shop.example.evil.com",
                  "https://evilshop.example", "https://www.shop.example"]:
        assert not pattern.matches(parse_origin(other)), other


def test_the_guides_localhost_rule_is_not_ours():
    # The deployment guide allowed any origin containing "localhost".
    pattern = OriginPattern.parse("http://localhost:3000")
    for other in ["https://evil-localhost.com", "http://localhost.evil.com:3000", "http://localhost:3001"]:
        assert not pattern.matches(parse_origin(other)), other


def test_wildcard_matches_subdomains_only_on_a_label_boundary():
    pattern = OriginPattern.parse("https://*.client.example")
    assert pattern.matches(parse_origin("https://www.client.example"))
    assert pattern.matches(parse_origin("https://a.b.client.example"))
    for other in ["https://client.example", "https://evilclient.example", "http://www.client.example",
                  "https://www.client.example:444", "https://www.client.example.evil"]:
        assert not pattern.matches(parse_origin(other)), other
    assert str(pattern) == "https://*.client.example"


def test_wildcard_needs_a_real_domain():
    with pytest.raises(ValueError, match="two labels"):
        OriginPattern.parse("https://*.example")


@pytest.mark.parametrize("value", ["https://cdn.example", "http://127.0.0.1:8000/", "https://api.retellai.com/v2?x=1",
                                   "http://localhost:8080/api/create-web-call"])
def test_absolute_http_urls(value):
    assert is_http_url(value)


@pytest.mark.parametrize("value", [None, 42, "", "cdn.example", "/v2/create-web-call", "ftp://cdn.example", "https://",
                                   "https:///path", "javascript:alert(1)", "//cdn.example", "http://[::1"])
def test_anything_else_is_not_an_absolute_http_url(value):
    assert not is_http_url(value)


def test_ipv6_hosts_are_parsed_in_their_shortest_form_only():
    assert parse_origin("http://[::1]:8000") == Origin("http", "[::1]", 8000)
    assert str(parse_origin("https://[2001:db8::1]")) == "https://[2001:db8::1]"
    with pytest.raises(ValueError, match=r"shortest form, \[::1\]"):
        parse_origin("http://[0:0:0:0:0:0:0:1]")
    for text in ["http://[::g]", "http://[::1", "http://[::1]x", "http://[]"]:
        with pytest.raises(ValueError):
            parse_origin(text)


@pytest.mark.parametrize("text, secure", [
    ("https://shop.example", True), ("https://*.shop.example", True), ("http://localhost:3000", True),
    ("http://a.localhost", True), ("http://*.dev.localhost", True), ("http://127.0.0.1:8000", True),
    ("http://127.9.9.9", True), ("http://[::1]", True), ("http://shop.example", False),
    ("http://*.shop.example", False), ("http://128.0.0.1", False), ("http://localhost.shop.example", False),
    ("http://[::2]", False), ("http://10.0.0.1", False),
])
def test_secure_context_is_https_or_plain_http_on_loopback(text, secure):
    assert OriginPattern.parse(text).secure_context is secure
