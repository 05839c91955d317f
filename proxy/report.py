"""Usage reports: totals per client and outcome, and a time series, as text or as an HTML page."""

from __future__ import annotations

import html
import math
import re
import time
from dataclasses import dataclass

from proxy.usage import Store

_SPAN = re.compile(r"^(\d{1,4})([mhdw])$")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_SPAN = 366 * 86400


def parse_span(text: str) -> int:
    """'7d', '24h', '30m' or '2w' in seconds; ``ValueError`` for anything else."""
    match = _SPAN.match(text.strip())
    if not match or int(match[1]) == 0:
        raise ValueError("a span is a number and a unit: 30m, 24h, 7d or 2w")
    seconds = int(match[1]) * _UNIT_SECONDS[match[2]]
    if seconds > MAX_SPAN:
        raise ValueError("a span may be at most 366 days")
    return seconds


@dataclass(frozen=True, slots=True)
class Summary:
    since: float
    until: float
    bucket: int  # seconds per point of the series
    totals: list[tuple[str, str, int]]  # client, outcome, count
    series: list[tuple[int, int, int]]  # bucket index, created, not created

    @property
    def attempts(self) -> int:
        return sum(count for _, _, count in self.totals)


def summarise(store: Store, span: int, now: float | None = None) -> Summary:
    until = time.time() if now is None else now
    since = until - span
    bucket = 3600 if span <= 2 * 86400 else 86400
    index = "CAST((time - %s) / %s AS INTEGER)" if store.dialect == "sqlite" else "FLOOR((time - %s) / %s)::BIGINT"
    totals = store.query(
        "SELECT client, outcome, COUNT(*) FROM usage WHERE time >= %s GROUP BY client, outcome ORDER BY client, outcome",
        (since,))
    series = store.query(
        f"SELECT {index} AS b, SUM(CASE WHEN outcome = 'created' THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN outcome = 'created' THEN 0 ELSE 1 END) FROM usage WHERE time >= %s GROUP BY b ORDER BY b",
        (since, bucket, since))
    return Summary(since, until, bucket, [(c, o, int(n)) for c, o, n in totals], [(int(b), int(ok), int(no)) for b, ok, no in series])


def _stamp(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(seconds))


def text_report(summary: Summary) -> str:
    lines = [f"usage from {_stamp(summary.since)} to {_stamp(summary.until)}: {summary.attempts} create attempts"]
    if summary.totals:
        width = max(len(c) for c, _, _ in summary.totals) + 2
        lines.append(f"{'client':<{width}}{'outcome':<24}{'count':>8}")
        lines += [f"{client:<{width}}{outcome:<24}{count:>8}" for client, outcome, count in summary.totals]
    created = sum(n for _, o, n in summary.totals if o == "created")
    lines.append(f"created {created}, refused or failed {summary.attempts - created}")
    return "\n".join(lines) + "\n"


def svg_chart(summary: Summary, width: int = 720, height: int = 220) -> str:
    """A stacked bar per bucket: created calls at the bottom, everything else on top."""
    buckets = max(1, math.ceil((summary.until - summary.since) / summary.bucket))
    points = {b: (ok, no) for b, ok, no in summary.series}
    peak = max((ok + no for ok, no in points.values()), default=0) or 1
    bar = (width - 40) / buckets
    plot = height - 30
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="create attempts per {"hour" if summary.bucket == 3600 else "day"}">',
             f'<text x="0" y="12" font-size="11">{peak}</text>',
             f'<line x1="36" y1="{plot}" x2="{width}" y2="{plot}" stroke="#888"/>']
    for b in range(buckets):
        ok, no = points.get(b, (0, 0))
        x = 38 + b * bar
        h_ok, h_no = plot * ok / peak, plot * no / peak
        title = f"{_stamp(summary.since + b * summary.bucket)}: {ok} created, {no} not"
        parts.append(f'<g><title>{html.escape(title)}</title>'
                     f'<rect x="{x:.1f}" y="{plot - h_ok:.1f}" width="{max(bar - 1, 1):.1f}" height="{h_ok:.1f}" fill="#0f766e"/>'
                     f'<rect x="{x:.1f}" y="{plot - h_ok - h_no:.1f}" width="{max(bar - 1, 1):.1f}" height="{h_no:.1f}" fill="#d97706"/></g>')
    parts.append(f'<text x="38" y="{height - 8}" font-size="11">{_stamp(summary.since)}</text>')
    parts.append(f'<text x="{width}" y="{height - 8}" font-size="11" text-anchor="end">{_stamp(summary.until)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def html_page(summary: Summary, span_text: str) -> str:
    rows = "".join(f"<tr><td>{html.escape(c)}</td><td>{html.escape(o)}</td><td>{n}</td></tr>" for c, o, n in summary.totals)
    spans = " ".join(f'<a href="?since={s}">{s}</a>' for s in ("24h", "7d", "30d", "90d"))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Widget usage</title>
<style>body{{font:14px system-ui,sans-serif;margin:2rem;max-width:760px}}table{{border-collapse:collapse}}
td,th{{padding:.2rem .8rem;border-bottom:1px solid #ddd;text-align:left}}.key span{{display:inline-block;width:.8em;height:.8em;margin:0 .3em}}</style>
</head><body>
<h1>Widget usage, last {html.escape(span_text)}</h1>
<p>{summary.attempts} create attempts. Show: {spans}</p>
<p class="key"><span style="background:#0f766e"></span>created <span style="background:#d97706"></span>refused or failed</p>
{svg_chart(summary)}
<table><thead><tr><th>client</th><th>outcome</th><th>count</th></tr></thead><tbody>{rows}</tbody></table>
</body></html>
"""
