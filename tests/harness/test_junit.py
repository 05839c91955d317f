"""``python -m harness junit-merge``: the shards' JUnit reports as one (no sandbox, no browser)."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from harness.check import FAIL, NOT_APPLICABLE, PASS, ClientReport, Outcome, Report, junit
from harness.junit import JunitError, merge
from tests.conftest import REPO


def shard(tmp_path, name, *clients):  # noqa: ANN001, ANN002, ANN201
    path = tmp_path / f"{name}.xml"
    path.write_text(junit(Report(list(clients), seconds=float(len(clients)))))
    return path


def client(client_id, *outcomes):  # noqa: ANN001, ANN002, ANN201
    return ClientReport(client_id, client_id, "2.5.0", dict(zip(("page", "calls"), outcomes)))


def test_shards_merge_into_one_report_and_overlaps_are_refused(tmp_path):
    one = shard(tmp_path, "junit-1", client("a", Outcome(PASS), Outcome(FAIL, "no audio")), client("b", Outcome(PASS)))
    two = shard(tmp_path, "junit-2", client("c", Outcome(PASS), Outcome(NOT_APPLICABLE, "none")))
    empty = shard(tmp_path, "junit-3")  # a shard --changed-since left with nothing to check
    out = tmp_path / "merged" / "junit.xml"
    result = subprocess.run([sys.executable, "-m", "harness", "junit-merge", str(out), str(one), str(two), str(empty)],
                            cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"wrote {out}: 3 report(s), 5 test cases: 1 failed, 0 errors, 1 skipped\n"
    root = ET.parse(out).getroot()
    assert root.tag == "testsuites"
    assert {k: root.get(k) for k in ("tests", "failures", "skipped", "time")} == {
        "tests": "5", "failures": "1", "skipped": "1", "time": "2.000"}
    assert [s.get("name") for s in root] == ["harness check (junit-1)", "harness check (junit-2)", "harness check (junit-3)"]
    assert [(c.get("classname"), c.get("name")) for c in root.iter("testcase")] == [
        ("clients.a", "page"), ("clients.a", "calls"), ("clients.b", "page"), ("clients.c", "page"), ("clients.c", "calls")]
    assert root.find(".//failure").get("message") == "no audio"

    again = shard(tmp_path, "junit-4", client("b", Outcome(PASS)))
    (tmp_path / "bad.xml").write_text("<html>")
    (tmp_path / "html.xml").write_text("<html/>")
    with pytest.raises(JunitError) as caught:
        merge([one, again, tmp_path / "missing.xml", tmp_path / "bad.xml", tmp_path / "html.xml"])
    assert caught.value.errors[:3] == [
        f"{tmp_path / 'missing.xml'}: no such file",
        f"{tmp_path / 'bad.xml'}: not XML: no element found: line 1, column 6",
        f"{tmp_path / 'html.xml'}: not a JUnit report (its root is <html>, not <testsuite> or <testsuites>)"]
    assert caught.value.errors[3:] == [
        f"{again}: test case clients.b page is also in {one}: did two shards check the same client?"]
    result = subprocess.run([sys.executable, "-m", "harness", "junit-merge", str(out), str(one), str(again)],
                            cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "did two shards check the same client?" in result.stderr
