import gzip

import brotli
import pytest

from builder.assets import encode, minify, sri
from tests.builder.conftest import V2_JS


def test_minifies_modern_javascript_without_changing_meaning():
    out = minify("retell-widget.js", V2_JS)
    assert len(out) < len(V2_JS) and "//" not in out
    assert "export class RetellWidget extends EventTarget" in out
    assert "static#" in out.replace(" ", "")  # private static field kept private
    assert "await import(" in out and "?.default??null" in out
    assert '`<p class="x">${' in out  # template literal untouched inside


def test_minifies_css_and_passes_other_files_through():
    css = minify("a.css", ".a  >  .b { margin: 0px }\n")
    assert css == ".a>.b{margin:0}"
    assert minify("x.d.ts", "export declare const x: number;\n") == "export declare const x: number;\n"


def test_a_syntax_error_is_a_value_error():
    with pytest.raises(ValueError):
        minify("bad.js", "function ( {")


def test_encode_gives_reproducible_gzip_and_brotli_and_sri():
    data = b"console.log('hi');" * 50
    enc = encode(data)
    assert gzip.decompress(enc.gzip) == data and brotli.decompress(enc.brotli) == data
    assert encode(data).gzip == enc.gzip  # no timestamp inside
    assert enc.integrity == sri(data) and enc.integrity.startswith("sha384-")
