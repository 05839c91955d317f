"""Usage reports, as text, CSV or an HTML page: per client, the calls Retell connected with their
minutes and cost (from the webhook events), and the create attempts by outcome, over time."""

from __future__ import annotations

import csv
import html
import io
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
    match = _SPAN.fullmatch(text.strip())
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
    bucket = _bucket(span)
    index = "CAST((time - %s) / %s AS INTEGER)" if store.dialect == "sqlite" else "FLOOR((time - %s) / %s)::BIGINT"
    totals = store.query(
        # A row stands for its ``attempts``: refused ones are tallied per TALLY_SECONDS (proxy.usage).
        "SELECT client, outcome, SUM(attempts) FROM usage WHERE time >= %s GROUP BY client, outcome ORDER BY client, outcome",
        (since,))
    series = store.query(
        f"SELECT {index} AS b, SUM(CASE WHEN outcome = 'created' THEN attempts ELSE 0 END), "
        "SUM(CASE WHEN outcome = 'created' THEN 0 ELSE attempts END) FROM usage WHERE time >= %s GROUP BY b ORDER BY b",
        (since, bucket, since))
    return Summary(since, until, bucket, [(c, o, int(n)) for c, o, n in totals], [(int(b), int(ok), int(no)) for b, ok, no in series])


UNATTRIBUTED = "(unattributed)"  # calls Retell told us about that this proxy did not create


@dataclass(frozen=True, slots=True)
class ClientCalls:
    client: str
    created: int  # calls this proxy created for the client
    connected: int  # of those, calls that started (a call_started event, or a duration)
    minutes: float
    cost_usd: float  # Retell's combined_cost, which is in cents, in dollars


@dataclass(frozen=True, slots=True)
class CallSummary:
    since: float
    until: float
    bucket: int  # seconds per point of the series
    clients: list[ClientCalls]
    series: list[tuple[int, float]]  # bucket index, minutes

    @property
    def total(self) -> ClientCalls:
        return ClientCalls("total", sum(c.created for c in self.clients), sum(c.connected for c in self.clients),
                           sum(c.minutes for c in self.clients), sum(c.cost_usd for c in self.clients))


# One row per call: the client it was created for (or none), when, whether it connected, its
# length and cost. A call is in the span by when it was created (or, unattributed, first heard of).
_EVENTS_BY_CALL = ("SELECT call_id, MIN(received) AS first, MAX(CASE WHEN event = 'call_started' THEN 1 ELSE 0 END) AS started, "
                   "MAX(duration_ms) AS duration, MAX(cost_cents) AS cost FROM call_events GROUP BY call_id")
_ATTRIBUTED = (f"SELECT u.client, u.time, e.started, e.duration, e.cost FROM usage u LEFT JOIN ({_EVENTS_BY_CALL}) e "
               "ON e.call_id = u.call_id WHERE u.outcome = 'created' AND u.time >= %s")
_UNATTRIBUTED = (f"SELECT e.first, e.started, e.duration, e.cost FROM ({_EVENTS_BY_CALL}) e WHERE e.first >= %s "
                 "AND NOT EXISTS (SELECT 1 FROM usage u WHERE u.call_id = e.call_id)")


def minutes_by_client(store: Store, since: float) -> dict[str, float]:
    """Call minutes per client, of the calls created since ``since`` (what a minutes quota counts)."""
    query = (f"SELECT u.client, SUM(e.duration) FROM usage u JOIN ({_EVENTS_BY_CALL}) e ON e.call_id = u.call_id "
             "WHERE u.outcome = 'created' AND u.time >= %s GROUP BY u.client")
    return {client: (duration or 0) / 60000 for client, duration in store.query(query, (since,))}


def summarise_calls(store: Store, span: int, now: float | None = None) -> CallSummary:
    until = time.time() if now is None else now
    since = until - span
    bucket = _bucket(span)
    rows = [(client, at, started, duration, cost) for client, at, started, duration, cost in store.query(_ATTRIBUTED, (since,))]
    rows += [(UNATTRIBUTED, at, started, duration, cost) for at, started, duration, cost in store.query(_UNATTRIBUTED, (since,))]
    per_client: dict[str, list[float]] = {}
    series: dict[int, float] = {}
    for client, at, started, duration, cost in rows:
        totals = per_client.setdefault(client, [0, 0, 0.0, 0.0])
        minutes = (duration or 0) / 60000
        totals[0] += client != UNATTRIBUTED
        totals[1] += bool(started) or minutes > 0
        totals[2] += minutes
        totals[3] += (cost or 0) / 100
        index = int((at - since) // bucket)
        series[index] = series.get(index, 0.0) + minutes
    clients = [ClientCalls(c, int(t[0]), int(t[1]), t[2], t[3]) for c, t in sorted(per_client.items(), key=lambda i: (i[0] == UNATTRIBUTED, i[0]))]
    return CallSummary(since, until, bucket, clients, sorted(series.items()))


def calls_text(summary: CallSummary) -> str:
    lines = [f"calls from {_stamp(summary.since)} to {_stamp(summary.until)}"]
    width = max([len(c.client) for c in summary.clients] + [6]) + 2
    lines.append(f"{'client':<{width}}{'created':>9}{'connected':>11}{'minutes':>10}{'cost (USD)':>12}")
    for c in [*summary.clients, summary.total]:
        lines.append(f"{c.client:<{width}}{c.created:>9}{c.connected:>11}{c.minutes:>10.2f}{c.cost_usd:>12.2f}")
    return "\n".join(lines) + "\n"


def calls_csv(summary: CallSummary) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["client", "calls_created", "calls_connected", "minutes", "cost_usd", "since", "until"])
    for c in summary.clients:
        writer.writerow([c.client, c.created, c.connected, f"{c.minutes:.2f}", f"{c.cost_usd:.4f}",
                         _iso(summary.since), _iso(summary.until)])
    return out.getvalue()


def outcomes_csv(summary: Summary) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["client", "outcome", "count", "since", "until"])
    for client, outcome, count in summary.totals:
        writer.writerow([client, outcome, count, _iso(summary.since), _iso(summary.until)])
    return out.getvalue()


def _bucket(span: int) -> int:
    return 3600 if span <= 2 * 86400 else 86400


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


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


def minutes_by_client_svg(summary: CallSummary, width: int = 720, top: int = 20) -> str:
    """A horizontal bar per client (the ``top`` with the most minutes), its minutes and cost."""
    clients = sorted(summary.clients, key=lambda c: -c.minutes)[:top]
    row, label = 22, 180
    height = max(1, len(clients)) * row + 10
    peak = max((c.minutes for c in clients), default=0) or 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="minutes per client">']
    for i, c in enumerate(clients):
        y = 5 + i * row
        w = (width - label - 120) * c.minutes / peak
        title = f"{c.client}: {c.minutes:.2f} minutes, {c.connected} of {c.created} calls connected, ${c.cost_usd:.2f}"
        parts.append(f'<g><title>{html.escape(title)}</title>'
                     f'<text x="{label - 6}" y="{y + 14}" font-size="12" text-anchor="end">{html.escape(c.client[:28])}</text>'
                     f'<rect x="{label}" y="{y + 2}" width="{max(w, 1):.1f}" height="{row - 6}" fill="#0f766e"/>'
                     f'<text x="{label + max(w, 1) + 6:.1f}" y="{y + 14}" font-size="11">{c.minutes:.1f} min</text></g>')
    if not clients:
        parts.append('<text x="0" y="16" font-size="12">no calls in this span</text>')
    parts.append("</svg>")
    return "".join(parts)


def minutes_over_time_svg(summary: CallSummary, width: int = 720, height: int = 180) -> str:
    """A bar per hour or day: the minutes of the calls created in it."""
    buckets = max(1, math.ceil((summary.until - summary.since) / summary.bucket))
    points = dict(summary.series)
    peak = max(points.values(), default=0) or 1
    bar, plot = (width - 40) / buckets, height - 30
    unit = "hour" if summary.bucket == 3600 else "day"
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="call minutes per {unit}">',
             f'<text x="0" y="12" font-size="11">{peak:.0f}</text>',
             f'<line x1="36" y1="{plot}" x2="{width}" y2="{plot}" stroke="#888"/>']
    for b in range(buckets):
        minutes = points.get(b, 0.0)
        h = plot * minutes / peak
        title = f"{_stamp(summary.since + b * summary.bucket)}: {minutes:.1f} minutes"
        parts.append(f'<g><title>{html.escape(title)}</title><rect x="{38 + b * bar:.1f}" y="{plot - h:.1f}" '
                     f'width="{max(bar - 1, 1):.1f}" height="{h:.1f}" fill="#0f766e"/></g>')
    parts.append(f'<text x="38" y="{height - 8}" font-size="11">{_stamp(summary.since)}</text>')
    parts.append(f'<text x="{width}" y="{height - 8}" font-size="11" text-anchor="end">{_stamp(summary.until)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def html_page(summary: Summary, calls: CallSummary, span_text: str) -> str:
    rows = "".join(f"<tr><td>{html.escape(c)}</td><td>{html.escape(o)}</td><td>{n}</td></tr>" for c, o, n in summary.totals)
    call_rows = "".join(
        f"<tr><td>{html.escape(c.client)}</td><td>{c.created}</td><td>{c.connected}</td><td>{c.minutes:.2f}</td>"
        f"<td>{c.cost_usd:.2f}</td></tr>" for c in [*calls.clients, calls.total])
    spans = " ".join(f'<a href="?since={s}">{s}</a>' for s in ("24h", "7d", "30d", "90d"))
    unit = "hour" if calls.bucket == 3600 else "day"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Widget usage</title>
<style>body{{font:14px system-ui,sans-serif;margin:2rem;max-width:760px}}table{{border-collapse:collapse}}
td,th{{padding:.2rem .8rem;border-bottom:1px solid #ddd;text-align:left}}.key span{{display:inline-block;width:.8em;height:.8em;margin:0 .3em}}</style>
</head><body>
<h1>Widget usage, last {html.escape(span_text)}</h1>
<p>Show: {spans}</p>
<h2>Calls per client</h2>
<p>{calls.total.connected} calls connected of {calls.total.created} created, {calls.total.minutes:.1f} minutes,
${calls.total.cost_usd:.2f} as Retell reports it. Minutes and cost come from Retell's webhooks.</p>
{minutes_by_client_svg(calls)}
<h2>Minutes per {unit}</h2>
{minutes_over_time_svg(calls)}
<table><thead><tr><th>client</th><th>created</th><th>connected</th><th>minutes</th><th>cost (USD)</th></tr></thead>
<tbody>{call_rows}</tbody></table>
<h2>Create attempts</h2>
<p>{summary.attempts} create attempts.</p>
<p class="key"><span style="background:#0f766e"></span>created <span style="background:#d97706"></span>refused or failed</p>
{svg_chart(summary)}
<table><thead><tr><th>client</th><th>outcome</th><th>count</th></tr></thead><tbody>{rows}</tbody></table>
</body></html>
"""
