"""``python -m harness check``: every client of the registry, checked in a real browser.

The site is built for the sandbox and served (``python -m harness``), then each client gets a
fresh Chromium context with the sandbox's ``chromium_args`` and these checks, in order:

- ``page``: the client's demo page loads its pinned widget version, with SRI, and shows the widget;
- ``a11y``: axe finds no serious or critical violation in the widget;
- ``calls``: a call with each of the client's agents starts with Retell's real SDK, the agent's
  greeting arrives as audio, and the hang-up is recorded by the fake Retell as ``user_hangup``;
- ``hostile``: the client's page copied onto a foreign origin is refused: no token, no upstream call;
- ``csp``: (v2 clients) the client's page under the documented strict CSP makes a call, no violation;
- ``bot``: for a client with a bot check, a create without a token is refused
  (``bot_check_failed``), and the calls above passed it: the provider's fake verified a token
  solved on this client's page. The fake takes any site key, so a pass carries a note: whether
  ``bot_site_key`` is the provider's key for the site is for the provider to tell.

A failed check keeps a screenshot and a Playwright trace under the output folder.
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
from harness.browser import PEER_CONNECTIONS
from harness.selection import SelectionError, Shard, select
from harness.state import SandboxState
from registry.errors import ErrorList

CHECKS = ("page", "a11y", "calls", "config", "hostile", "csp", "bot")
PASS, FAIL, NOT_APPLICABLE, SKIPPED = "pass", "FAIL", "n/a", "skip"
# The checks that need the page to have loaded the widget; they are skipped when ``page`` failed.
_NEEDS_PAGE = {"a11y", "calls", "hostile", "csp"}
# axe impacts that fail the a11y check.
_SERIOUS = {"serious", "critical"}
_CALL_TIMEOUT_MS = 20_000
CREATE_PATH = "/api/create-web-call"  # the proxy's endpoint, as the sandbox serves it
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

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.clients)


class _Failed(Exception):
    """A check's failure, in plain words."""


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

    chosen = list(prepare(config, say).clients)
    if not chosen:  # nothing a change can have broken: no sandbox to start
        return Report([], 0.0)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="harness-check-") as tmp:
        args = ["--src", str(config.src), "--widget", str(config.widget)]
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
    return Report(reports, time.perf_counter() - started, checked)


async def _check_all(config: CheckConfig, state: SandboxState, clients: list[registry.Client],
                     progress: Callable[[str], None], started: float) -> list[ClientReport]:
    from playwright.async_api import async_playwright

    from harness.browser import chromium_executable

    reports = {c.id: ClientReport(c.id, c.name, c.widget_version) for c in clients}
    slots = asyncio.Semaphore(config.workers)
    done = 0

    def tell() -> None:
        failing = sum(not r.passed for r in reports.values() if r.checks)
        progress(f"checked {done}/{len(clients)} clients, {failing} failing, {time.perf_counter() - started:.1f} s")

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_executable(), args=list(state.chromium_args))
        try:
            async with httpx.AsyncClient(timeout=30) as http:
                control = _Control(http, state)

                async def one(client: registry.Client) -> None:
                    nonlocal done
                    async with slots:
                        await _check_client(config, browser, control, state, client, reports[client.id])
                    done += 1
                    tell()

                tell()
                await asyncio.gather(*(one(c) for c in clients))
        finally:
            await browser.close()
    return [reports[c.id] for c in clients]


@dataclass(frozen=True, slots=True)
class _Control:
    http: httpx.AsyncClient
    state: SandboxState

    def local(self, name: str) -> str:
        return self.state.local(name)

    async def records(self) -> dict:
        return (await self.http.get(self.local("control") + "/calls")).json()

    async def ended(self, call_id: str) -> dict:
        response = await self.http.get(self.local("control") + f"/calls/{call_id}", params={"wait": "ended"})
        if response.status_code != 200:
            raise _Failed(f"the fake Retell never saw call {call_id} end")
        return response.json()


async def _check_client(config: CheckConfig, browser, control: _Control, state: SandboxState, client: registry.Client,  # noqa: ANN001
                        report: ClientReport) -> None:
    origin = state.origins[client.id]
    v2 = client.version.major >= 2
    steps: list[tuple[str, Callable]] = [
        ("page", lambda page: _page(page, origin, client)),
        ("a11y", lambda page: _a11y(page, origin, client)),
        ("calls", lambda page: _calls(page, control, origin, client)),
        ("config", lambda page: _config(control, origin, client)),
        ("hostile", lambda page: _hostile(page, control, state, client)),
        ("csp", (lambda page: _csp(page, control, origin, client)) if v2 else None),
        ("bot", (lambda page: _bot(control, state, client)) if client.bot_check else None),
    ]
    # One context and page per client, as one visitor: the checks follow each other on it (the
    # calls start from the demo page the first two checks loaded). Tracing runs throughout; each
    # check is one chunk, kept only when it fails.
    context = await browser.new_context()
    try:
        await context.tracing.start(snapshots=True, screenshots=False)
        page = await context.new_page()
        await page.add_init_script(_PEER_CONNECTIONS)
        console: list[str] = []
        page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
        for name, step in steps:
            if name in _NEEDS_PAGE and report.checks["page"].status == FAIL:
                report.checks[name] = Outcome(SKIPPED, "not run: the page check failed")
            elif step is None:
                report.checks[name] = Outcome(NOT_APPLICABLE, "v1 has no strict-CSP support" if name == "csp" else
                                              "the client requires no bot check")
            else:
                console.clear()
                await context.tracing.start_chunk(title=f"{client.id} {name}")
                report.checks[name] = await _attempt(config, context, page, client, name, step, console)
                if name == "bot" and report.checks[name].status == PASS:
                    report.checks[name].reason = bot_note(client)
    finally:
        await context.close()


async def _attempt(config: CheckConfig, context, page, client: registry.Client, name: str, step: Callable,  # noqa: ANN001
                   console: list[str]) -> Outcome:
    """One check on the client's page: its outcome, with a screenshot and its trace on failure."""
    started = time.perf_counter()
    try:
        await step(page)
    except Exception as exc:  # noqa: BLE001 - every failure is a finding about this client
        reason = str(exc) if isinstance(exc, _Failed) else f"{type(exc).__name__}: {exc}".splitlines()[0]
        if console:
            # An SRI refusal says the most; otherwise the last error the page logged.
            said = next((m for m in console if "integrity" in m), console[-1])
            reason += f" (browser console: {said.splitlines()[0][:200]})"
        folder = config.out / client.id / name
        folder.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(Exception):
            await page.screenshot(path=str(folder / "screenshot.png"))
        await context.tracing.stop_chunk(path=str(folder / "trace.zip"))
        return Outcome(FAIL, reason, time.perf_counter() - started, [str(folder / "screenshot.png"), str(folder / "trace.zip")])
    await context.tracing.stop_chunk()
    return Outcome(PASS, seconds=time.perf_counter() - started)


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
    from axe_playwright_python.async_playwright import Axe

    if page.url != origin + "/":
        await page.goto(origin + "/")
    root, start = _widget(page, client)
    await start.wait_for(state="visible", timeout=10_000)
    results = await Axe().run(page, context=_root(client), options={"runOnly": {"type": "tag", "values": [
        "wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}})
    serious = [v for v in results.response.get("violations", []) if v.get("impact") in _SERIOUS]
    if serious:
        raise _Failed("axe: " + "; ".join(f"{v['id']} ({v['impact']}): {v['help']}" for v in serious))


async def _calls(page, control: _Control, origin: str, client: registry.Client) -> None:  # noqa: ANN001
    for agent in client.agents:
        # The demo page is the first agent's; the others use the client's own sandbox page.
        url = origin + "/" if agent == client.agents[0] else f"{origin}/sandbox/v{client.widget_version}/?agent={agent}{_bot_query(client)}"
        record = await _one_call(page, control, url, client, agent, f"agent {agent}")
        await _configured(control, record, client, agent)


async def _configured(control: _Control, record: dict, client: registry.Client, agent: str) -> None:
    """The call carries what the registry fixes for the client: its variables, its agent's version,
    and (in Retell's own record) whose call it was."""
    given = record.get("retell_llm_dynamic_variables") or {}
    wrong = {k: given.get(k) for k, v in client.variables.items() if given.get(k) != v}
    if wrong:
        raise _Failed(f"agent {agent}: the call was created without the client's fixed variables: {wrong}")
    if (record.get("metadata") or {}).get("client_id") != client.id:
        raise _Failed(f"agent {agent}: Retell's record of the call does not name the client in its metadata")
    version = client.agent_versions.get(agent)
    if isinstance(version, int) and record.get("agent_version") != version:
        raise _Failed(f"agent {agent}: the call runs agent version {record.get('agent_version')}, not {version}")
    if isinstance(version, str):  # a tag: Retell's call object shows the number it resolved to
        sent = [r.get("agent_version") for r in (await control.records())["requests"] if r["agent_id"] == agent]
        if version not in sent:
            raise _Failed(f"agent {agent}: no call was created with agent version {version!r}")


def _unlisted(client: registry.Client) -> str:
    """A page variable the client does not list."""
    return next(key for n in range(len(client.page_variables) + 1)
                if (key := f"harness_check_unlisted_{n}") not in client.page_variables)


async def _config(control: _Control, origin: str, client: registry.Client) -> None:
    """What a page may ask is the registry's: a page variable the client does not list is refused,
    and a client that asks consent mints no token without the current text's hash. Neither
    reaches Retell."""
    before = await _agent_requests(control, client)
    proxy, headers = control.local("proxy") + CREATE_PATH, {"Origin": origin}
    body: dict = {"agent_id": client.agents[0], "retell_llm_dynamic_variables": {_unlisted(client): "x"}}
    if client.consent is not None:
        body["consent_hash"] = client.consent.hash  # so that the refusal is the variable's
    answer = await control.http.post(proxy, json=body, headers=headers)
    if answer.status_code != 400 or answer.json().get("error") != "variable_not_allowed":
        raise _Failed(f"a page variable the client does not list was answered {answer.status_code}, not 400 variable_not_allowed")
    if client.consent is not None:
        for sent, what in ((None, "without"), ("0" * 64, "with a stale")):
            answer = await control.http.post(proxy, json={"agent_id": client.agents[0], **({"consent_hash": sent} if sent else {})},
                                             headers=headers)
            if answer.status_code != 403 or answer.json().get("error") != "consent_required":
                raise _Failed(f"a create {what} consent hash was answered {answer.status_code}, not 403 consent_required")
    if await _agent_requests(control, client) != before:
        raise _Failed("a refused create reached Retell")


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


async def _agent_requests(control: _Control, client: registry.Client) -> int:
    # An agent belongs to one client (the registry refuses a shared one), and one client's checks
    # run one after another: the fake's requests for these agents are this check's alone.
    return sum(r["agent_id"] in client.agents for r in (await control.records())["requests"])


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


async def _hostile(page, control: _Control, state: SandboxState, client: registry.Client) -> None:  # noqa: ANN001
    before = await _agent_requests(control, client)
    with _creates(page) as creates:
        await _refused(page, state, client, creates)
    if await _agent_requests(control, client) != before:
        raise _Failed("a copy of the page on a foreign origin reached Retell (the proxy asked for a call)")


async def _refused(page, state: SandboxState, client: registry.Client, creates: list) -> None:  # noqa: ANN001
    agent = client.agents[0]
    await page.goto(f"{state.hostile}/sandbox/v{client.widget_version}/?agent={agent}{_bot_query(client)}")
    root = await _start(page, client, "the copy on a foreign origin neither failed nor started")
    if await root.get_attribute("data-state") != "error":
        raise _Failed("a copy of the page on a foreign origin started a call")
    if any(r.status == 201 for r in creates):
        raise _Failed("the proxy minted a token for a copy of the page on a foreign origin")


async def _bot(control: _Control, state: SandboxState, client: registry.Client) -> None:
    origin = state.origins[client.id]
    body = {"agent_id": client.agents[0]} | ({"consent_hash": client.consent.hash} if client.consent else {})
    bare = await control.http.post(control.local("proxy") + CREATE_PATH, json=body, headers={"Origin": origin})
    if bare.status_code != 403 or bare.json().get("error") != "bot_check_failed":
        raise _Failed(f"a create without a bot token was answered {bare.status_code}, not 403 bot_check_failed")
    host = origin.split("://", 1)[1].rsplit(":", 1)[0]
    answers = [v for v in (await control.records())["bot_verifications"] if v.get("page_host") == host]
    if not any(v.get("success") for v in answers):
        raise _Failed(f"no {client.bot_check} token from this client's page was verified by the provider")


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

