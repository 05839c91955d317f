"""``python -m harness check``: every client of the registry, checked against a real sandbox.

The site is built for the sandbox and served (``python -m harness``). What can differ between two
clients of one widget configuration (``harness.widget_config``) is checked for every client:

- ``page`` (in the browser): the client's demo page loads its pinned widget version, with SRI, and
  shows the widget idle. Each browser page is reused from client to client;
- ``calls`` (its own part, from Python: ``harness.probe``): the proxy accepts each of the
  client's origins (CORS preflight), each agent mints a token from that origin, and the media
  server lets the token join its call; the call carries the client's registry fields;
- ``config``: a page variable the client does not list is refused, and a consent-less create;
- ``hostile``: a copy of the client's page on a foreign origin is refused: no token, no upstream call;
- ``bot``: for a client with a bot check, a create without a token is refused
  (``bot_check_failed``), and the provider verified a token solved for this client's host. The
  fake takes any site key, so a pass carries a note: whether ``bot_site_key`` is the provider's
  key for the site is for the provider to tell.

What only differs between configurations (release, bot check, consent text, language,
strict-CSP support, theme, position) is checked once per configuration, in the browser, on the
page of its first client to pass its own ``page`` and ``calls`` (while the others are still
checked), and shared by every client of it:

- ``a11y``: axe finds no serious or critical violation in the widget;
- ``calls`` (the configuration's part): a call starts with Retell's real SDK over WebRTC, the
  agent's greeting arrives as audio, and the hang-up is recorded by the fake Retell as ``user_hangup``;
- ``csp``: (v2) the page under the documented strict CSP makes a call, no violation.

A failed browser check keeps a screenshot and a Playwright trace under the output folder.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import httpx
from playwright.async_api import TimeoutError as BrowserTimeout

import registry
from harness import probe, widget_config
from harness.browser import PEER_CONNECTIONS
from harness.probe import CREATE_PATH
from harness.probe import Control as _Control
from harness.probe import Failed as _Failed
from harness.probe import configured as _configured
from harness.selection import SelectionError, Shard, select
from harness.state import SandboxState
from registry.errors import ErrorList

CHECKS = ("page", "a11y", "calls", "config", "hostile", "csp", "bot")
PASS, FAIL, NOT_APPLICABLE, SKIPPED = "pass", "FAIL", "n/a", "skip"
# Clients whose checks run at once, per browser page: most of a client's checks wait on the sandbox.
_CLIENTS_PER_PAGE = 3
# axe impacts that fail the a11y check.
_SERIOUS = {"serious", "critical"}
_CALL_TIMEOUT_MS = 20_000
# Checks a browser page runs before it is replaced by a new one (``_Worker.fresh``).
_USES_PER_PAGE = 100
# Keeps the page's peer connections, so the check can read whether the agent's audio arrived, and
# every CSP violation.
_PEER_CONNECTIONS = PEER_CONNECTIONS + """
(() => {
  window.__violations = [];
  document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
})();
"""
_AGENT_HEARD = """async () => {
  for (;;) {
    for (const pc of window.__pcs) for (const r of (await pc.getStats()).values()) {
      if (r.type === 'inbound-rtp' && r.kind === 'audio' && r.totalAudioEnergy > 0) return true;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}"""


def _reuse_renderers(pages: int) -> list[str]:
    """Chromium flags that keep one renderer process per page for the whole run. By default each
    client's origin is its own site, so every navigation to the next client started a renderer
    process (and a spare one): 2 processes per client, half of Chromium's CPU and as much again in
    the kernel (bench.check: 0.50 machine CPU-seconds per client, 0.36 with these). The checker
    visits the sandbox's pages only, and what it checks does not depend on the process model:
    SRI, CORS, CSP and the call run the same in a shared renderer; site isolation is a defence
    between sites, which these pages do not need from one another."""
    return ["--disable-site-isolation-trials", f"--renderer-process-limit={pages}"]


class CheckError(ErrorList):
    """The check could not run at all (bad registry, failed build); ``errors`` says why."""


@dataclass(frozen=True, slots=True)
class CheckConfig:
    src: Path = Path("site_src")
    widget: Path = Path("widget")
    clients: tuple[str, ...] = ()  # empty: every client
    jobs: int = 0  # 0: a sensible number for this machine
    out: Path = Path("check-results")
    junit: Path | None = None
    changed_since: str | None = None  # a git REF: only the clients a change since it can have broken
    shard: Shard | None = None  # then only this shard of them
    table: bool = False  # the full table even for a large run (else a summary above SUMMARY_ABOVE clients)

    @property
    def workers(self) -> int:
        return self.jobs or max(1, min(4, os.cpu_count() or 1))


@dataclass(slots=True)
class Outcome:
    status: str
    reason: str = ""
    seconds: float = 0.0
    artefacts: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ClientReport:
    id: str
    name: str
    widget_version: str
    checks: dict[str, Outcome] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(o.status != FAIL for o in self.checks.values())


@dataclass(slots=True)
class Report:
    clients: list[ClientReport]
    seconds: float  # all of it: the build, the sandbox's start and the checks
    checking_seconds: float = 0.0  # from the sandbox being ready to the last check's end
    prepare_seconds: float = 0.0  # the registry's validation and the build before any server starts
    startup_seconds: float = 0.0  # the sandbox's own build and start, until it is ready
    configurations: int = 0  # the distinct widget configurations checked in the browser

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.clients)


def prepare(config: CheckConfig, say: Callable[[str], None] = lambda line: None) -> registry.Registry:
    """The registry and a build of the site, validated before any browser starts; only the
    clients the config selects (``say`` hears why), and no build when that is none."""
    from builder.build import Builder, BuildError
    from builder.config import ConfigError, load_config

    try:
        clients = registry.load(config.src / "clients.toml")
    except registry.RegistryError as exc:
        raise CheckError(exc.errors) from None
    try:
        picked = select(clients.clients, config.src / "clients.toml", config.widget, config.clients,
                        config.changed_since, config.shard)
    except SelectionError as exc:
        raise CheckError(exc.errors) from None
    for line in picked.reasons:
        say(line)
    if not picked.clients:
        return registry.Registry(())
    ids = {c.id for c in picked.clients}
    try:
        with tempfile.TemporaryDirectory(prefix="harness-check-") as tmp:
            dist = Path(tmp) / "dist"
            Builder(load_config(config.src, config.widget, dist), cache=False).build()
            # Read again as the sandbox's proxy reads it: against the manifest's releases.
            built = registry.load(config.src / "clients.toml", registry.Manifest.read(dist / "cdn" / "manifest.json").releases)
            return registry.Registry(tuple(c for c in built.clients if c.id in ids))
    except (ConfigError, BuildError, registry.RegistryError) as exc:
        raise CheckError(exc.errors) from None


def run(config: CheckConfig, on_ready: Callable[[SandboxState], None] | None = None,
        progress: Callable[[str], None] | None = None, say: Callable[[str], None] = lambda line: None) -> Report:
    """Check every (chosen) client against a fresh sandbox; ``on_ready`` sees its state first
    (tests plant breakage there), ``say`` why the clients were chosen. Raises ``CheckError``
    before any browser if the site is broken."""
    from harness.launch import SandboxFailed, launched

    begun = time.perf_counter()
    chosen = list(prepare(config, say).clients)
    if not chosen:  # nothing a change can have broken: no sandbox to start
        return Report([], 0.0, prepare_seconds=time.perf_counter() - begun)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="harness-check-") as tmp:
        # The proxy's own upstream deadline, not the sandbox's 1 s for tests' injected delays: on
        # a loaded CI machine a healthy create took over a second, and failed a client for it.
        args = ["--src", str(config.src), "--widget", str(config.widget), "--upstream-timeout", "10"]
        try:
            with launched(Path(tmp), *args, start_timeout=180) as state:
                if on_ready is not None:
                    on_ready(state)
                ready = time.perf_counter()
                # Its own thread, so its own event loop: a caller may already run one (a test
                # process where Playwright's sync API is active does).
                with concurrent.futures.ThreadPoolExecutor(1) as thread:
                    reports = thread.submit(asyncio.run, _check_all(config, state, chosen, progress or (lambda line: None),
                                                                    started)).result()
                checked = time.perf_counter() - ready
        except SandboxFailed as exc:
            raise CheckError([str(exc)]) from None
    return Report(reports, time.perf_counter() - started, checked, started - begun, ready - started,
                  len(widget_config.group(chosen)))


@dataclass(slots=True)
class _Worker:
    """One browser context and page, reused from client to client (a navigation is far cheaper
    than a new context). Tracing runs only around the checks that keep a trace (``_attempt``)."""

    context: object
    page: object
    console: list[str]
    browser: object
    uses: int = 0

    async def fresh(self) -> None:
        """A new context and page after ``_USES_PER_PAGE`` checks: what a page keeps from one
        navigation to the next (its renderer's heap, its history, Playwright's objects) stops
        growing."""
        self.uses += 1
        if self.uses >= _USES_PER_PAGE:
            await self.context.close()
            fresh = await _worker(self.browser)
            self.context, self.page, self.console, self.uses = fresh.context, fresh.page, fresh.console, 0


async def _worker(browser) -> _Worker:  # noqa: ANN001
    context = await browser.new_context()
    page = await context.new_page()
    await page.add_init_script(_PEER_CONNECTIONS)
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    return _Worker(context, page, console, browser)


@dataclass(slots=True)
class _Run:
    """What a run shares: its settings, the sandbox, the browser pages and the reports."""

    config: CheckConfig
    control: _Control
    workers: asyncio.Queue
    reports: dict[str, ClientReport]
    progress: Callable[[str], None]
    started: float
    done: int = 0
    failing: int = 0  # clients done whose own checks failed (kept as they end: a count per line was O(n²))

    @contextlib.asynccontextmanager
    async def worker(self):  # noqa: ANN202
        worker = await self.workers.get()
        try:
            yield worker
        finally:
            try:
                await worker.fresh()
            finally:
                self.workers.put_nowait(worker)

    def tell(self, what: str = "") -> None:
        self.progress(f"checked {self.done}/{len(self.reports)} clients{what}, {self.failing} failing, "
                      f"{time.perf_counter() - self.started:.1f} s")


async def _check_all(config: CheckConfig, state: SandboxState, clients: list[registry.Client],
                     progress: Callable[[str], None], started: float) -> list[ClientReport]:
    from playwright.async_api import async_playwright

    from harness.browser import chromium_executable

    reports = {c.id: ClientReport(c.id, c.name, c.widget_version) for c in clients}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_executable(), args=[*state.chromium_args, *_reuse_renderers(config.workers)])
        try:
            async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=64)) as http:
                workers: asyncio.Queue = asyncio.Queue()
                for worker in await asyncio.gather(*(_worker(browser) for _ in range(config.workers))):
                    workers.put_nowait(worker)
                run = _Run(config, _Control(http, state), workers, reports, progress, started)
                await _check_clients(run, clients)
        finally:
            await browser.close()
    return [reports[c.id] for c in clients]


async def _check_clients(run: _Run, clients: list[registry.Client]) -> None:
    """Every client's own checks (its page in the browser, its origins, agents, registry fields and
    hostile copy against the sandbox) and, started as soon as one of its clients passes its own,
    each widget configuration's browser checks, while the other clients are still checked."""
    # The Python checks wait on the sandbox, not the browser: more clients at once than pages.
    slots = asyncio.Semaphore(run.config.workers * _CLIENTS_PER_PAGE)
    configurations = _Configurations(run, widget_config.group(clients))

    async def one(client: registry.Client) -> None:
        async with slots:
            await _check_client(run, client)
        run.done += 1
        run.failing += not run.reports[client.id].passed
        configurations.offer(client)
        run.tell()

    run.tell()
    await asyncio.gather(*(one(c) for c in clients))
    await configurations.finish()


async def _check_client(run: _Run, client: registry.Client) -> None:
    report = run.reports[client.id]

    async def page() -> None:
        async with run.worker() as worker:
            report.checks["page"] = await _attempt(run.config, worker, client.id, "page",
                                                   lambda p: _page(p, run.control.state.origins[client.id], client),
                                                   traced=False)

    async def probes() -> None:
        # One after another: ``config`` and ``hostile`` count this client's requests at Retell.
        steps = [("calls", _own_calls), ("config", probe.config), ("hostile", probe.hostile),
                 ("bot", probe.bot if client.bot_check else None)]
        for name, step in steps:
            if step is None:
                report.checks[name] = Outcome(NOT_APPLICABLE, "the client requires no bot check")
                continue
            report.checks[name] = await _probe(step(run.control, client))
            if name == "bot" and report.checks[name].status == PASS:
                report.checks[name].reason = bot_note(client)

    await asyncio.gather(page(), probes())
    if report.checks["page"].status == FAIL:
        report.checks["calls"] = Outcome(SKIPPED, "not run: the page check failed")


async def _own_calls(control: _Control, client: registry.Client) -> None:
    await probe.origins(control, client)
    await probe.calls(control, client)


async def _probe(check) -> Outcome:  # noqa: ANN001
    started = time.perf_counter()
    try:
        await check
    except _Failed as failed:
        return Outcome(FAIL, str(failed), time.perf_counter() - started)
    except Exception as exc:  # noqa: BLE001 - every failure is a finding about this client
        return Outcome(FAIL, f"{type(exc).__name__}: {exc}".splitlines()[0], time.perf_counter() - started)
    return Outcome(PASS, seconds=time.perf_counter() - started)


@dataclass(slots=True)
class _Configurations:
    """Each widget configuration's browser checks, run once on the page of the first of its
    clients to pass its own ``page`` and ``calls`` checks, so a breakage of that client's own
    cannot be taken for the configuration's; then shared by every client of it."""

    run: _Run
    groups: dict[widget_config.WidgetConfig, list[registry.Client]]
    chosen: dict[widget_config.WidgetConfig, registry.Client] = field(default_factory=dict)
    tasks: dict[widget_config.WidgetConfig, asyncio.Task] = field(default_factory=dict)
    checked: int = 0

    def offer(self, client: registry.Client) -> None:
        """Starts the client's configuration's checks on its page if it is the first of it to pass."""
        key = widget_config.config_of(client)
        if key in self.tasks or any(self.run.reports[client.id].checks[n].status != PASS for n in ("page", "calls")):
            return
        self.chosen[key] = client
        self.tasks[key] = asyncio.ensure_future(_check_configuration(self.run, key, client))
        self.tasks[key].add_done_callback(self._done)

    def _done(self, _task: asyncio.Task) -> None:
        self.checked += 1
        self.run.tell(f"; {self.checked}/{len(self.groups)} widget configurations")

    async def finish(self) -> None:
        for key, members in self.groups.items():
            outcomes = await self.tasks[key] if key in self.tasks else {}
            for client in members:
                _share(self.run.reports[client.id], key, self.chosen.get(key), outcomes, first=client is self.chosen.get(key))


async def _check_configuration(run: _Run, key: widget_config.WidgetConfig, client: registry.Client) -> dict[str, Outcome]:
    origin = run.control.state.origins[client.id]
    steps: list[tuple[str, Callable]] = [
        ("a11y", lambda page: _a11y(page, origin, client)),
        ("calls", lambda page: _call(page, run.control, origin, client)),
    ]
    if key.strict_csp:
        steps.append(("csp", lambda page: _csp(page, run.control, origin, client)))
    outcomes: dict[str, Outcome] = {}
    async with run.worker() as worker:
        for name, step in steps:
            outcomes[name] = await _attempt(run.config, worker, client.id, name, step)
    return outcomes


def _share(report: ClientReport, key: widget_config.WidgetConfig, chosen: registry.Client | None,
           outcomes: dict[str, Outcome], first: bool) -> None:
    """A client's share of its configuration's checks: the same code in the same browser."""
    page_failed = report.checks["page"].status == FAIL
    for name in ("a11y", "calls", "csp"):
        if name == "csp" and not key.strict_csp:
            report.checks[name] = Outcome(NOT_APPLICABLE, "v1 has no strict-CSP support")
        elif page_failed:
            report.checks[name] = Outcome(SKIPPED, "not run: the page check failed")
        elif name == "calls" and report.checks[name].status == FAIL:
            continue  # its own token check failed: that is the finding
        elif chosen is None:
            report.checks[name] = Outcome(SKIPPED, f"not run: no client of configuration {key} passed its own page and "
                                                   "token checks")
        else:
            shared = outcomes[name]
            if shared.status == FAIL:
                where = "" if first else f" (configuration {key}, checked on client {chosen.id}'s page)"
                report.checks[name] = Outcome(FAIL, shared.reason + where, shared.seconds if first else 0.0,
                                              list(shared.artefacts))
            elif name != "calls":
                report.checks[name] = Outcome(shared.status, shared.reason, shared.seconds if first else 0.0)


async def _attempt(config: CheckConfig, worker: _Worker, client_id: str, name: str, step: Callable,
                   traced: bool = True) -> Outcome:
    """One check on a client's page: its outcome, with a screenshot and a Playwright trace on
    failure. ``traced`` traces the check as it runs; otherwise (a check run for every client,
    where tracing would cost Chromium more than the check) a failed check is run again under
    tracing for its trace, and the reason says if that second run passed."""
    started = time.perf_counter()
    if traced:
        await worker.context.tracing.start(title=f"{client_id} {name}", snapshots=True, screenshots=False)
    reason = await _reason(worker, step)
    seconds = time.perf_counter() - started
    if reason is None:
        if traced:
            await worker.context.tracing.stop()
        return Outcome(PASS, seconds=seconds)
    folder = config.out / client_id / name
    folder.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(Exception):
        await worker.page.screenshot(path=str(folder / "screenshot.png"))
    if not traced:
        await worker.context.tracing.start(title=f"{client_id} {name}, run again", snapshots=True, screenshots=False)
        if await _reason(worker, step) is None:
            reason += " (it passed when run again for its trace: an intermittent failure)"
    await worker.context.tracing.stop(path=str(folder / "trace.zip"))
    return Outcome(FAIL, reason, seconds, [str(folder / "screenshot.png"), str(folder / "trace.zip")])


async def _reason(worker: _Worker, step: Callable) -> str | None:
    """Why ``step`` failed on the worker's page, with the console's most telling error; None if it passed."""
    worker.console.clear()
    try:
        await step(worker.page)
    except Exception as exc:  # noqa: BLE001 - every failure is a finding about this client
        reason = str(exc) if isinstance(exc, _Failed) else f"{type(exc).__name__}: {exc}".splitlines()[0]
        if worker.console:
            # An SRI refusal says the most; otherwise the last error the page logged.
            said = next((m for m in worker.console if "integrity" in m), worker.console[-1])
            reason += f" (browser console: {said.splitlines()[0][:200]})"
        return reason
    return None


def bot_note(client: registry.Client) -> str:
    """What a passed ``bot`` check cannot say: the sandbox's fake provider takes any site key."""
    provider = "Turnstile" if client.bot_check == "turnstile" else "reCAPTCHA"
    return (f"note: the sandbox's fake {provider} accepts any site key, so this check cannot tell whether "
            f"bot_site_key '{client.bot_site_key}' is right; only {provider} can, on the live site, where a "
            "wrong key fails every call's bot check")


def _bot_query(client: registry.Client) -> str:
    """The sandbox page's parameter giving its widget the client's bot check, if it has one."""
    return f"&bot={client.bot_check}" if client.bot_check else ""


def _root(client: registry.Client) -> str:
    return "retell-widget" if client.version.major >= 2 else ".retell-widget"


def _widget(page, client: registry.Client):  # noqa: ANN001, ANN202
    launcher = "retell-widget .launcher" if client.version.major >= 2 else ".retell-widget__button"
    return page.locator(_root(client)), page.locator(launcher)


async def _settled(page, client: registry.Client) -> None:  # noqa: ANN001
    """Waits until the widget is in a call or shows an error (a start can end only in one of them).
    A locator, not ``wait_for_function``: that one compiles its predicate with ``new Function``,
    which a strict CSP (no 'unsafe-eval') refuses."""
    root = _root(client)
    await page.locator(f'{root}[data-state="in-call"], {root}[data-state="error"]').wait_for(timeout=_CALL_TIMEOUT_MS)


async def _page(page, origin: str, client: registry.Client) -> None:  # noqa: ANN001
    # The widget appears, or the browser says (as the page loads) that it refused the file for its
    # integrity: no need to wait out the timeout for a page that cannot work.
    refused: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def on_console(message) -> None:  # noqa: ANN001
        if "integrity" in message.text and not refused.done():
            refused.set_result(message.text)

    page.on("console", on_console)
    try:
        await _page_loads(page, origin, client, refused)
    finally:
        page.remove_listener("console", on_console)


async def _page_loads(page, origin: str, client: registry.Client, refused: asyncio.Future[str]) -> None:  # noqa: ANN001
    response = await page.goto(origin + "/")
    if response is None or not response.ok:
        raise _Failed(f"the demo page answered {response.status if response else 'nothing'}")
    folder = f"/v{client.widget_version}/retell-widget.js"
    script = page.locator(f'script[src$="{folder}"]')
    if await script.count() != 1:
        raise _Failed(f"the demo page does not load the pinned version {client.widget_version} ({folder})")
    if not (await script.get_attribute("integrity") or "").startswith("sha384-"):
        raise _Failed("the demo page loads the widget without SRI (no integrity attribute)")
    root, start = _widget(page, client)
    shown = asyncio.ensure_future(start.wait_for(state="visible", timeout=10_000))
    await asyncio.wait({shown, refused}, return_when=asyncio.FIRST_COMPLETED)
    if not shown.done():
        shown.cancel()
        with contextlib.suppress(BaseException):
            await shown
        raise _Failed(f"the browser refused {folder}: its bytes do not match the page's integrity hash (SRI)")
    if isinstance(shown.exception(), BrowserTimeout):
        raise _Failed(f"the widget never appeared: the browser failed to load or run {folder}")
    shown.result()
    if await root.get_attribute("data-state") != "idle":
        raise _Failed(f"the widget is not idle but {await root.get_attribute('data-state')!r}")


async def _a11y(page, origin: str, client: registry.Client) -> None:  # noqa: ANN001
    from harness.a11y import scan_async

    if page.url != origin + "/":
        await page.goto(origin + "/")
    root, start = _widget(page, client)
    await start.wait_for(state="visible", timeout=10_000)
    results = await scan_async(page, _root(client))
    serious = [v for v in results.response.get("violations", []) if v.get("impact") in _SERIOUS]
    if serious:
        raise _Failed("axe: " + "; ".join(f"{v['id']} ({v['impact']}): {v['help']}" for v in serious))


async def _call(page, control: _Control, origin: str, client: registry.Client) -> None:  # noqa: ANN001
    """A call in the browser from the demo page, with the first agent: Retell's SDK, WebRTC, the
    greeting heard, the hang-up recorded, the registry's fields on the call."""
    agent = client.agents[0]
    record = await _one_call(page, control, origin + "/", client, agent, f"agent {agent}")
    await _configured(control, record, client, agent)

async def _status_text(page, client: registry.Client) -> str:  # noqa: ANN001
    # v2's status line lives in its shadow root; Playwright's CSS locators pierce it.
    status = page.locator("retell-widget .status" if client.version.major >= 2 else ".retell-widget__status")
    text = " ".join((await status.first.inner_text()).split()) if await status.count() else ""
    return text[:200] or "(no message)"


@contextlib.contextmanager
def _creates(page) -> Iterator[list]:  # noqa: ANN001
    """The proxy's answers to this page's create requests while the block runs (the page's own
    view: clients are checked in parallel, so the fake's lists hold other clients' calls too)."""
    answers: list = []

    def seen(response) -> None:  # noqa: ANN001
        if response.url.endswith(CREATE_PATH) and response.request.method == "POST":
            answers.append(response)

    page.on("response", seen)
    try:
        yield answers
    finally:
        page.remove_listener("response", seen)


async def _start(page, client: registry.Client, timed_out: str, creates: list | None = None):  # noqa: ANN001, ANN202
    """Clicks the widget's start (and, for a client that asks consent, agrees once the step shows
    with no token asked for yet) and waits until it is in a call or shows an error; its root."""
    root, start = _widget(page, client)
    await start.wait_for(state="visible", timeout=10_000)
    await start.click()
    if client.consent is not None:
        await _agree(page, client, creates)
    try:
        await _settled(page, client)
    except BrowserTimeout:
        raise _Failed(timed_out) from None
    return root


_STARTED = ("requesting-microphone", "connecting", "in-call")


async def _agree(page, client: registry.Client, creates: list | None) -> None:  # noqa: ANN001
    root = _root(client)
    # The widget asks once per origin: later calls on it start at once.
    moved = ", ".join(f'{root}[data-state="{state}"]' for state in ("consent", "error", *_STARTED))
    await page.locator(moved).first.wait_for(timeout=10_000)
    if await page.locator(root).get_attribute("data-state") != "consent":
        return
    if creates:
        raise _Failed("the widget asked the proxy for a call before the visitor agreed")
    agree = page.locator("retell-widget .actions .primary" if client.version.major >= 2 else ".retell-widget__agree")
    await agree.click()


async def _one_call(page, control: _Control, url: str, client: registry.Client, agent: str, what: str,  # noqa: ANN001
                    loaded: Callable | None = None) -> dict:
    with _creates(page) as creates:
        if page.url != url or loaded is not None:  # the first call starts on the page already loaded
            response = await page.goto(url)
            if loaded is not None:
                loaded(response)
        root = await _start(page, client, f"{what}: the call did not start within {_CALL_TIMEOUT_MS // 1000} s", creates)
        if await root.get_attribute("data-state") == "error":
            raise _Failed(f"{what}: the widget shows an error: {await _status_text(page, client)}")
        try:
            await asyncio.wait_for(page.evaluate(_AGENT_HEARD), 10)
        except TimeoutError:
            raise _Failed(f"{what}: in the call, but the agent's greeting never arrived as audio") from None
        hang_up = page.get_by_role("button", name="Hang up") if client.version.major >= 2 else page.locator(".retell-widget__hangup")
        await hang_up.click()
        minted = [r for r in creates if r.status == 201]
        if len(minted) != 1:
            raise _Failed(f"{what}: expected the proxy to mint one call for the page, it minted {len(minted)}")
        record = await control.ended((await minted[0].json())["call_id"])
        if record["agent_id"] != agent:
            raise _Failed(f"{what}: the call went to {record['agent_id']!r}")
        if record["disconnection_reason"] != "user_hangup":
            raise _Failed(f"{what}: the hang-up was recorded as {record['disconnection_reason']!r}, not 'user_hangup'")
        return record


async def _csp(page, control: _Control, origin: str, client: registry.Client) -> None:  # noqa: ANN001
    url = f"{origin}/sandbox/v{client.widget_version}/?csp=strict&agent={client.agents[0]}{_bot_query(client)}"

    def has_policy(response) -> None:  # noqa: ANN001
        if response is None or "content-security-policy" not in response.headers:
            raise _Failed("the strict-CSP page sent no Content-Security-Policy")

    await _one_call(page, control, url, client, client.agents[0], "under the strict CSP", loaded=has_policy)
    violations = await page.evaluate("window.__violations")
    if violations:
        raise _Failed("CSP violations: " + "; ".join(violations[:3]))


# -- reporting ------------------------------------------------------------------------------------


def table(report: Report) -> str:
    rows = [("client", "version", *CHECKS)]
    for client in report.clients:
        rows.append((client.id, client.widget_version, *(client.checks.get(c, Outcome("-")).status for c in CHECKS)))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    # Failures with their reasons, then what a pass could not check (a note is a passed check's reason).
    said = [(c.id, name, o) for c in report.clients for name, o in c.checks.items() if o.status == FAIL]
    said += [(c.id, name, o) for c in report.clients for name, o in c.checks.items() if o.status == PASS and o.reason]
    if said:
        lines.append("")
        for client_id, name, outcome in said:
            lines.append(f"{client_id} {name}: {outcome.reason}")
            lines += [f"  {path}" for path in outcome.artefacts]
    passed = sum(c.passed for c in report.clients)
    lines.append("")
    lines.append(f"{passed} of {len(report.clients)} clients passed every check in {report.seconds:.1f} s")
    return "\n".join(lines)


def junit(report: Report) -> str:
    """JUnit XML: one test case per client and check, as CI systems read it."""
    cases = []
    for client in report.clients:
        for name in CHECKS:
            outcome = client.checks.get(name)
            if outcome is None:
                continue
            head = f'<testcase classname={quoteattr("clients." + client.id)} name={quoteattr(name)} time="{outcome.seconds:.3f}"'
            if outcome.status == FAIL:
                cases.append(f"{head}><failure message={quoteattr(outcome.reason)}>{escape(chr(10).join(outcome.artefacts))}"
                             "</failure></testcase>")
            elif outcome.status in (NOT_APPLICABLE, SKIPPED):
                cases.append(f"{head}><skipped message={quoteattr(outcome.reason)}/></testcase>")
            elif outcome.reason:  # a pass with a note
                cases.append(f"{head}><system-out>{escape(outcome.reason)}</system-out></testcase>")
            else:
                cases.append(f"{head}/>")
    failures = sum(o.status == FAIL for c in report.clients for o in c.checks.values())
    skipped = sum(o.status in (NOT_APPLICABLE, SKIPPED) for c in report.clients for o in c.checks.values())
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<testsuite name="harness check" tests="{len(cases)}" '
            f'failures="{failures}" skipped="{skipped}" time="{report.seconds:.3f}">\n  ' + "\n  ".join(cases) +
            "\n</testsuite>\n")


def main(config: CheckConfig) -> int:
    """The command: run, print the table, write JUnit; 0 only if every check passed."""
    interactive = sys.stderr.isatty()

    def progress(line: str) -> None:
        # A live line on a terminal; one line per client in a CI log.
        print(("\r" + line + "\x1b[K") if interactive else line, end="" if interactive else "\n", file=sys.stderr, flush=True)

    try:
        report = run(config, progress=progress, say=lambda line: print(line, file=sys.stderr, flush=True))
    except CheckError as exc:
        for line in exc.errors:
            print(line, file=sys.stderr)
        print(f"check stopped before any browser started: {len(exc.errors)} error(s)", file=sys.stderr)
        return 1
    if interactive:
        print(file=sys.stderr)
    from harness.summary import SUMMARY_ABOVE, summary

    if not report.clients:
        print("nothing to check: no client was selected")
    else:
        print(table(report) if config.table or len(report.clients) <= SUMMARY_ABOVE else summary(report))
    if config.junit is not None:
        config.junit.parent.mkdir(parents=True, exist_ok=True)
        config.junit.write_text(junit(report), encoding="utf-8")
        print(f"wrote {config.junit}")
    return 0 if report.passed else 1

