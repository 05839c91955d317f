"""``python -m bench.report``: the README's benchmark tables, in Markdown, from bench/results/*.json."""

from __future__ import annotations

import json
import sys

from bench.common import RESULTS


def _load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:g}x"


def _machine(data: dict) -> str:
    m = data["machine"]
    during = m.get("during") or {}
    return (f"{m['date']}, {m['nproc']} CPUs ({m['cpu']}); 1-min load average {m['load_before'][0]:g} before, "
            f"mean {during.get('load1_mean', '?')} / max {during.get('load1_max', '?')} during; "
            f"other pytest processes {m['other_pytest_processes']} at start, at most {during.get('other_pytest_max', '?')} during")


def builder(data: dict) -> list[str]:
    size = data["size"]
    lines = [f"**Builder** (`python -m bench.builder`): {size['pages']:,} pages, {size['clients']:,} clients, "
             f"{size['releases']} releases; {data['output']['files']:,} files out; {data['mkdocs_version'] or 'no MkDocs'}; "
             f"medians of {data['cold_runs']} cold and {data['runs']} incremental runs; {_machine(data)}.", "",
             "| case | ours (s) | MkDocs (s) | MkDocs / ours | target |", "| --- | --: | --: | --: | --- |"]
    targets = {"cold": "MkDocs / ours >= 10", "unchanged": "<= 0.3 s", "one_page": "<= 0.1 s", "one_client": "<= 0.1 s"}
    for row in data["rows"]:
        if row["case"] == "mkdocs_cold":
            continue
        mkdocs = f"{row['mkdocs_s']:.2f}" if row["mkdocs_s"] else "-"
        lines.append(f"| {row['label']} | {row['median_s']:.3f} | {mkdocs} | {_x(row['mkdocs_over_ours'])} "
                     f"| {targets.get(row['case'], '')} |")
    if data.get("publish_rollback"):  # results taken before publish and rollback were measured lack it
        lines += ["", "| publish and rollback (no MkDocs peer) | ours (s) |", "| --- | --: |"]
        lines += [f"| {row['label']} | {row['median_s']:.4f} |" for row in data["publish_rollback"]]
    return lines


def proxy(data: dict) -> list[str]:
    load = data["load"]
    lines = [f"**Proxy** (`python -m bench.proxy`): {load['tool']}, {load['threads']} thread, {load['connections']} "
             f"connections, {load['seconds']:g} s per run, medians of {load['runs']} rounds; successful creates against "
             f"one fake upstream; {_machine(data)}.", "",
             "| setup | req/s | p50 ms | p99 ms | req/s vs Express | p99 vs Express | errors | >= 2x, lower p99 |",
             "| --- | --: | --: | --: | --: | --: | --: | --- |"]
    met = {True: "met", False: "**not met**", None: ""}
    for row in data["rows"]:
        lines.append(f"| {row['label']} | {row['rps']:,.0f} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} "
                     f"| {_x(row['rps_vs_express'])} | {_x(row['p99_vs_express'])} | {row['errors']} "
                     f"| {met[row.get('meets_target')]} |")
    shared = data.get("redis_vs_memory")
    if shared:
        rounds = ", ".join(f"{x:.3f}" for x in shared["per_round"])
        lines += ["", f"Redis limiter vs in memory, round by round (median of {rounds}): {shared['ratio']:.3f}x; "
                      f"target >= {shared['target']}x: {met[shared['met']]}."]
    return lines


def widget(data: dict) -> list[str]:
    lines = [f"**Widget** (`python -m bench.widget`): a client's sandbox page, fresh Chromium context per visit, "
             f"medians of {data['runs']} visits; {_machine(data)}.", "",
             "| widget | requests | gzip | transferred (br) | raw | script start -> button visible | peer / ours (latest) |",
             "| --- | --: | --: | --: | --: | --: | --: |"]
    kb = lambda n: "-" if n is None else f"{n / 1024:.1f} KB"  # noqa: E731
    for row in data["rows"]:
        lines.append(f"| {row['label']} | {row['requests']} | {kb(row['gzip_bytes'])} | {kb(row['transferred_bytes'])} "
                     f"| {kb(row['raw_bytes'])} | {row['script_to_button_ms']:.0f} ms | |")
    for peer in data["peers"]:
        lines.append(f"| {peer['label']} | - | {kb(peer['gzip_bytes'])} | - | {kb(peer['raw_bytes'])} | - "
                     f"| {_x(peer.get('times_latest'))} |")
    if all("click_to_in_call_ms" in row for row in data["rows"]):
        lines += ["", "The call, with Retell's SDK against the sandbox's media server: intent (the pointer enters the "
                  "launcher) fetches the SDK, then a click; \"cold\" clicks with no intent first.", "",
                  "| widget | SDK (gzip) | after intent (br) | click -> in call | click -> agent audio "
                  "| cold: in call | cold: agent audio | SDK before intent |",
                  "| --- | --: | --: | --: | --: | --: | --: | --- |"]
        for row in data["rows"]:
            lines.append(f"| {row['label']} | {kb(row['sdk_gzip_bytes'])} | {kb(row['after_intent_transferred_bytes'])} "
                         f"| {row['click_to_in_call_ms']:.0f} ms | {row['click_to_agent_audio_ms']:.0f} ms "
                         f"| {row['cold_click_to_in_call_ms']:.0f} ms | {row['cold_click_to_agent_audio_ms']:.0f} ms "
                         f"| {'yes' if row['sdk_before_intent'] else 'none'} |")
    update = data.get("update")
    if update:
        lines += ["", f"One transcript update in the v2 panel once a call has {update['utterances']} utterances (the newest "
                  f"growing; median of {update['updates']}): {update['median_ms']} ms with 2.3.0's merge, which redraws "
                  f"what changed; {update['rewrite_all_ms']} ms for 2.2.0's panel rewriting the whole history."]
    talk = data.get("conversation")
    if talk:
        runs = data["conversations"]
        lines += ["", f"The call as a conversation: {len(runs)} calls of {runs[0]['turns']} turns in real audio both ways, "
                  f"{runs[0]['talked_over']} of the agent's answers talked over; every visitor turn heard: "
                  f"{'yes' if talk['heard_every_turn'] else 'no'}. Medians of {talk['turns_measured']} turns and "
                  f"{talk['barge_ins_measured']} barge-ins.", "",
                  "| median | in the browser | on the server (Retell's `latency.e2e`) |", "| --- | --: | --: |",
                  f"| turn: the visitor stops -> the agent's audio starts | {talk['browser_turn_ms']:.0f} ms "
                  f"| {talk['server_turn_ms']:.0f} ms |",
                  f"| barge-in: the visitor starts over the agent -> its audio stops | {talk['browser_barge_in_ms']:.0f} ms "
                  f"| {talk['server_barge_in_ms']:.0f} ms |"]
    return lines


def abuse(data: dict) -> list[str]:
    lines = [f"**Abuse** (`python -m bench.abuse`): one address floods `python -m proxy serve` (documented defaults; "
             f"the visitors' agent budget raised out of their way) with wrk at the highest rate it reaches, while "
             f"{data['visitors']} visitor addresses each create a call every {data['visitor_interval_s']:g} s; "
             f"{data['seconds']:g} s per phase; {_machine(data)}.", "",
             "| phase | visitors served | visitor p50 | visitor p99 | p99 vs unloaded | flood req/s | siteverify calls | usage rows added |",
             "| --- | --: | --: | --: | --: | --: | --: | --: |"]
    for row in data["rows"]:
        flood = f"{row['flood_rps']:,.0f}" if row.get("flood_rps") else "-"
        lines.append(f"| {row['phase']} | {row['visitor_success']:.1%} | {row['visitor_p50_ms']:.1f} ms | {row['visitor_p99_ms']:.1f} ms "
                     f"| {_x(row['p99_vs_unloaded'])} | {flood} | {row['siteverify_calls']} | {row['usage_rows_added']} |")
    lines += ["", f"Goal ({data['goal']}): {'met' if data['verdict'] else '**not met**'}."]
    return lines


def e2e(data: dict) -> list[str]:
    lines = [f"**End to end** (`python -m bench.e2e`): `{data['command']}`, {len(data['runs'])} runs in all; "
             f"{_machine(data)}.", "",
             "| suite | tests | median | min | max | per test | all green |", "| --- | --: | --: | --: | --: | --: | --- |"]
    for row in data["rows"]:
        lines.append(f"| {row['label']} | {row['tests']} | {row['median_s']:.1f} s | {row['min_s']:.1f} s "
                     f"| {row['max_s']:.1f} s | {row['per_test_s']:.2f} s | {'yes' if row['all_green'] else 'no'} |")
    return lines


def check(data: dict) -> list[str]:
    lines = [f"**Registry check** (`python -m bench.check`): `python -m harness check` on {data['sample']:,} of a "
             f"{data['registry_clients']:,}-client synthetic registry, a fresh sandbox per row; per client its page, "
             f"origins, tokens and hostile copy, per widget configuration a full call; {_machine(data)}.", "",
             "| --jobs | configurations | build + start-up | clients/s (steady) | sandbox RSS start / peak / end "
             "| CPU s per client: browser | sandbox | checker | machine busy | failing |",
             "| --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |"]
    for row in data["rows"]:
        rss, cpu = row["sandbox_rss_mb"], row["cpu_s_per_client"]
        steady = row.get("steady_clients_per_s")
        lines.append(f"| {row['jobs']} | {row.get('configurations', '-')} "
                     f"| {row.get('prepare_s', 0):.1f} + {row.get('startup_s', 0):.1f} s "
                     f"| {row['clients_per_s']:.2f} ({steady if steady is not None else '-'}) "
                     f"| {rss['start']:.0f} / {rss['peak']:.0f} / {rss['end']:.0f} MB | {cpu['browser']:.2f} "
                     f"| {cpu['sandbox']:.2f} | {cpu['checker']:.2f} | {row['machine_busy']:.0%} | {len(row['failed'])} |")
    lines += ["", f"Goal >= {data['goal_clients_per_s']:g} clients/s: {'met' if data['meets_goal'] else 'not met'} "
              f"(best {data['best_clients_per_s']:.2f})."]
    for row in data["rows"]:
        if "clients_per_s_by_tenth" in row:
            lines += ["", f"At --jobs {row['jobs']}: the whole machine spent {row['machine_cpu_s_per_client']:.3f} CPU-seconds "
                      f"per client; clients/s in each tenth of the run: "
                      f"{', '.join(f'{r:g}' if r is not None else '-' for r in row['clients_per_s_by_tenth'])}; "
                      f"planted {', '.join(row['planted']) or 'nothing'}: "
                      f"{'exactly those were found' if row['found_exactly_the_planted'] else '**not exactly those were found**'}."]
    changed = data.get("changed_since")
    if changed:
        lines += ["", f"`--changed-since HEAD` after editing {changed['edited']}: {changed['seconds']:.1f} s end to end in a "
                  f"fresh process, build included (goal < {data['changed_since_goal_s']:g} s); it said "
                  f"\"{'; '.join(changed['why'])}\" and \"{changed['result']}\"."]
    return lines


def search(data: dict) -> list[str]:
    lines = [f"**Docs search** (`python -m bench.search`): the Pagefind index bytes one query downloads on the "
             f"1,000-page benchmark site (the library, fetched once, apart); target {data['target']}, judged on the "
             f"`{data['judged_on']}` corpus (bytes do not depend on the machine's load).", "",
             "| corpus | query | at focus | chunks | fragments | total |", "| --- | --- | --: | --: | --: | --: |"]
    for corpus, result in data["corpora"].items():
        for row in result["queries"]:
            lines.append(f"| {corpus} | {row['query']} | {row['index_bytes_at_focus']:,} B | {row['chunks']}: "
                         f"{row['chunk_bytes']:,} B | {row['fragments']}: {row['fragment_bytes']:,} B "
                         f"| {row['index_bytes_total']:,} B |")
    lines += ["", f"Worst query on the `{data['judged_on']}` corpus: {data['worst_index_bytes']:,} bytes, "
              f"{'met' if data['meets_target'] else '**not met**'}. The uniform corpus is the stated worst case: "
              f"{data['uniform_is_worst_case_because']}"]
    return lines


def main() -> int:
    for name, render in (("builder", builder), ("proxy", proxy), ("abuse", abuse), ("widget", widget), ("e2e", e2e),
                         ("check", check), ("search", search)):
        data = _load(name)
        if data is not None:
            print("\n".join(render(data)), end="\n\n")
        else:
            print(f"(no bench/results/{name}.json yet)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
