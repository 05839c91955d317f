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


def test_a_run_above_fifty_clients_prints_a_summary_unless_the_table_is_asked_for(tmp_path, capsys, monkeypatch):
    from harness import check
    from harness.summary import SUMMARY_ABOVE, summary

    clients = [ClientReport(f"client-{n:03}", f"Client {n}", "2.5.0",
                            {"page": Outcome(PASS), "calls": Outcome(PASS), "csp": Outcome(PASS), "bot": Outcome(NOT_APPLICABLE, "none")})
               for n in range(SUMMARY_ABOVE + 10)]
    clients[7].checks["calls"] = Outcome(FAIL, "agent agent_7: no audio", artefacts=["out/client-007/calls/trace.zip"])
    clients[9].checks["csp"] = Outcome(FAIL, "CSP violations: script-src")
    clients[9].checks["bot"] = Outcome(PASS, "note: the fake accepts any site key")
    report = Report(clients, seconds=12.0)
    lines = summary(report).splitlines()
    assert lines[0] == "60 clients checked: the counts per check (--table prints one row per client)"
    counts = {line.split()[0]: line.split()[1:] for line in lines[2:2 + 8]}
    assert counts["check"] == ["pass", "FAIL", "n/a", "skip"]
    assert counts["page"] == ["60", "0", "0", "0"] and counts["calls"] == ["59", "1", "0", "0"]
    assert counts["csp"] == ["59", "1", "0", "0"] and counts["bot"] == ["1", "0", "59", "0"] and counts["hostile"] == ["0"] * 4
    at = lines.index("2 failing client(s):")
    assert lines[at + 1:at + 6] == ["client-007 (2.5.0): calls", "  calls: agent agent_7: no audio",
                                    "    out/client-007/calls/trace.zip", "client-009 (2.5.0): csp",
                                    "  csp: CSP violations: script-src"]
    assert "1 passed check(s) carry a note" in summary(report)
    assert lines[-1] == "58 of 60 clients passed every check in 12.0 s"
    assert not any(line.startswith("client-001") for line in lines)

    # What main prints: the summary, the table with --table, at most 50 clients always the table;
    # JUnit is whole either way.
    for config, wanted in ((check.CheckConfig(junit=tmp_path / "j.xml"), summary(report)),
                           (check.CheckConfig(table=True), table(report))):
        monkeypatch.setattr(check, "run", lambda config, **kw: report)
        assert check.main(config) == 1
        assert capsys.readouterr().out.startswith(wanted)
    assert junit(report).count("<testcase") == (tmp_path / "j.xml").read_text().count("<testcase") == 60 * 4
    small = Report(clients[:SUMMARY_ABOVE], seconds=1.0)
    monkeypatch.setattr(check, "run", lambda config, **kw: small)
    check.main(check.CheckConfig())
    assert capsys.readouterr().out == table(small) + "\n"
