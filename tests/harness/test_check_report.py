"""``harness check``'s table and JUnit report, from a report made by hand (no sandbox, no browser)."""

from __future__ import annotations

from harness.check import FAIL, NOT_APPLICABLE, PASS, ClientReport, Outcome, Report, bot_note, junit, table
from registry import load

CLIENT = '''[[client]]
id = "bolt"
name = "Bolt"
origins = ["https://bolt.example"]
agents = ["agent_bolt"]
theme = "blue"
position = "bottom-right"
widget_version = "2.5.0"
brand_color = "#123456"
bot_check = "recaptcha"
bot_site_key = "6Lbolt"
'''


def test_a_passed_bot_check_notes_that_the_site_key_is_untested(tmp_path):
    (tmp_path / "clients.toml").write_text(CLIENT)
    (client,) = load(tmp_path / "clients.toml").clients
    note = bot_note(client)
    assert note == ("note: the sandbox's fake reCAPTCHA accepts any site key, so this check cannot tell whether "
                    "bot_site_key '6Lbolt' is right; only reCAPTCHA can, on the live site, where a wrong key fails "
                    "every call's bot check")
    report = Report([
        ClientReport("bolt", "Bolt", "2.5.0", {"page": Outcome(PASS), "calls": Outcome(FAIL, "agent agent_bolt: no audio"),
                                               "bot": Outcome(PASS, note)}),
        ClientReport("acme", "Acme", "1.0.0", {"page": Outcome(PASS), "bot": Outcome(NOT_APPLICABLE, "no bot check")}),
    ], seconds=1.0)
    lines = table(report).splitlines()
    # The failure first, then the note; a plain pass and an n/a say nothing below the table.
    said = [line for line in lines if line.startswith(("bolt ", "acme ")) and ": " in line]
    assert said == ["bolt calls: agent agent_bolt: no audio", f"bolt bot: {note}"]
    xml = junit(report)
    assert f'name="bot" time="0.000"><system-out>{note.replace("&", "&amp;")}</system-out></testcase>' in xml
    assert '<testcase classname="clients.bolt" name="page" time="0.000"/>' in xml
