"""``python -m harness junit-merge OUT IN...``: the shards' JUnit reports of one registry check, as one.

Each shard of ``harness check --shard K/N`` writes its own ``<testsuite>``; the merged file is a
``<testsuites>`` holding each of them, with the totals on top, as CI systems read several suites.
A test case found in two inputs means two shards checked the same client (a matrix whose N is not
the same in every job): that is refused, as is an input that is missing or not JUnit.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from registry.errors import ErrorList


class JunitError(ErrorList):
    """Inputs that cannot be merged; ``errors`` lists every one."""


@dataclass(frozen=True, slots=True)
class Totals:
    tests: int
    failures: int
    errors: int
    skipped: int

    def __str__(self) -> str:
        return f"{self.tests} test cases: {self.failures} failed, {self.errors} errors, {self.skipped} skipped"


def merge(paths: Sequence[Path]) -> tuple[str, Totals]:
    """The merged XML and its totals; ``JunitError`` lists every unreadable input and duplicate case."""
    problems: list[str] = []
    suites: list[tuple[Path, ET.Element]] = []
    for path in paths:
        try:
            root = ET.parse(path).getroot()
        except FileNotFoundError:
            problems.append(f"{path}: no such file")
            continue
        except ET.ParseError as exc:
            problems.append(f"{path}: not XML: {exc}")
            continue
        found = [root] if root.tag == "testsuite" else root.findall("testsuite") if root.tag == "testsuites" else []
        if not found:
            problems.append(f"{path}: not a JUnit report (its root is <{root.tag}>, not <testsuite> or <testsuites>)")
        suites += [(path, suite) for suite in found]
    seen: dict[tuple[str, str], Path] = {}
    for path, suite in suites:
        for case in suite.iter("testcase"):
            key = (case.get("classname", ""), case.get("name", ""))
            if key in seen:
                problems.append(f"{path}: test case {key[0]} {key[1]} is also in {seen[key]}: "
                                "did two shards check the same client?")
            seen.setdefault(key, path)
    if problems:
        raise JunitError(problems)
    cases = [case for _, suite in suites for case in suite.iter("testcase")]
    totals = Totals(len(cases), sum(c.find("failure") is not None for c in cases),
                    sum(c.find("error") is not None for c in cases), sum(c.find("skipped") is not None for c in cases))
    # The shards ran side by side: the run took as long as its slowest shard.
    seconds = max((float(suite.get("time", 0) or 0) for _, suite in suites), default=0.0)
    top = ET.Element("testsuites", name="harness check", tests=str(totals.tests), failures=str(totals.failures),
                     errors=str(totals.errors), skipped=str(totals.skipped), time=f"{seconds:.3f}")
    for path, suite in suites:
        if suite.get("name") == "harness check":
            suite.set("name", f"harness check ({path.stem})")  # which shard, in the CI's view
        top.append(suite)
    ET.indent(top)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(top, encoding="unicode") + "\n", totals
