"""What ``python -m harness check`` prints for a large run: counts per check and the failing clients,
instead of one table row per client (``--table`` still asks for the table; JUnit is always whole)."""

from __future__ import annotations

from harness.check import CHECKS, FAIL, NOT_APPLICABLE, PASS, SKIPPED, Report

# Above this many clients a run prints the summary: a table of 1,000 rows hides its few failures.
SUMMARY_ABOVE = 50
_STATUSES = (PASS, FAIL, NOT_APPLICABLE, SKIPPED)


def summary(report: Report) -> str:
    count = len(report.clients)
    rows = [("check", *_STATUSES)]
    for name in CHECKS:
        statuses = [c.checks[name].status for c in report.clients if name in c.checks]
        rows.append((name, *(str(statuses.count(s)) for s in _STATUSES)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [f"{count} clients checked: the counts per check (--table prints one row per client)", ""]
    lines += ["  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths)))
              for row in rows]
    failing = [c for c in report.clients if not c.passed]
    if failing:
        lines += ["", f"{len(failing)} failing client(s):"]
        for client in failing:
            failed = [(name, o) for name, o in client.checks.items() if o.status == FAIL]
            lines.append(f"{client.id} ({client.widget_version}): {', '.join(name for name, _ in failed)}")
            for name, outcome in failed:
                lines.append(f"  {name}: {outcome.reason}")
                lines += [f"    {path}" for path in outcome.artefacts]
    notes = sum(o.status == PASS and bool(o.reason) for c in report.clients for o in c.checks.values())
    if notes:
        lines += ["", f"{notes} passed check(s) carry a note of what they could not test: --table or the JUnit "
                      "report lists them"]
    lines += ["", f"{count - len(failing)} of {count} clients passed every check in {report.seconds:.1f} s"]
    return "\n".join(lines)
