"""Bot checks: a Turnstile or reCAPTCHA token, verified at the provider (the sandbox's fakes)
before any budget is spent or Retell is asked."""

from __future__ import annotations

import ipaddress
import logging

import httpx
import pytest

from serving import bind
from harness.bots import FakeBots
from proxy import botcheck
from proxy.botcheck import BotChecker, BotRefused, Provider
from proxy.settings import Secret
from tests.conftest import Swappable, run_async, running
from tests.proxy.conftest import API_KEY

SHOP = "https://shop.example"
BOLT = "https://bolt.example"
ENDPOINT = "/api/create-web-call"
TRUSTED = (ipaddress.ip_network("127.0.0.1/32"),)  # the tests' own address, as a load balancer's
BOT, VISITOR = "203.0.113.7", "198.51.100.9"


@pytest.fixture(scope="module")
def providers_server():
    """One server for the module's bot check providers, each test's own fake served through it."""
    app = Swappable()
    with running(app, lifespan="off") as port:
        yield app, f"http://127.0.0.1:{port}"


@pytest.fixture
def bots(providers_server):
    fake = FakeBots(slow=0.6)  # the proxies below wait 0.3 s
    state = {"fault": None}
    fake.fault = lambda: state["fault"]
    server, url = providers_server
    with server.serving(fake.app()):
        yield fake, url, state


@pytest.fixture
def guarded(proxy_factory, fake_retell, registry_file, bots):
    """A proxy whose shop client requires Turnstile and whose bolt client requires reCAPTCHA."""
    text = registry_file.read_text().replace('widget_version = "1.0.0"', 'widget_version = "1.2.0"')
    text = text.replace('agents = ["agent_shop"]', 'agents = ["agent_shop"]\nbot_check = "turnstile"\nbot_site_key = "0x4AAAsite"', 1)
    text = text.replace('agents = ["agent_bolt"]', 'agents = ["agent_bolt"]\nbot_check = "recaptcha"\nbot_site_key = "6Lsite"\nbot_min_score = 0.5', 1)
    registry_file.write_text(text)
    fake, url, state = bots

    def make(**overrides):
        settings = {"turnstile_secret": Secret(fake.turnstile_secret), "recaptcha_secret": Secret(fake.recaptcha_secret),
                    "turnstile_verify_url": f"{url}/turnstile/v0/siteverify",
                    "recaptcha_verify_url": f"{url}/recaptcha/api/siteverify", "bot_check_timeout": 0.3} | overrides
        return proxy_factory(fake_retell[1], **settings)

    return make, fake, state


def create(proxy, token=None, origin=SHOP, agent="agent_shop", ip=None):
    body = {"agent_id": agent, **({"bot_token": token} if token is not None else {})}
    return proxy.post(ENDPOINT, json=body, headers={"Origin": origin, **({"X-Forwarded-For": ip} if ip else {})})


def test_a_valid_token_passes_once_and_is_never_sent_to_retell(guarded, fake_retell):
    make, fake, _ = guarded
    proxy = make()
    token = fake.mint("turnstile", "0x4AAAsite", "shop.example")
    assert create(proxy, token).status_code == 201
    again = create(proxy, token)
    assert again.status_code == 403 and again.json()["error"] == "bot_check_failed"
    assert "already used" in again.json()["message"]
    assert len(fake_retell[0].requests) == 1
    assert fake.verifications[0]["success"] is True and len(fake.verifications) == 1  # the replay never left the proxy


@pytest.mark.parametrize("case, said", [
    ("missing", "carries no bot_token"),
    ("another site", "solved on another website"),
    ("forged", "the bot check failed"),
    ("provider says no", "the bot check failed"),
    ("expired at the provider", "expired or was already used"),
])
def test_a_failed_check_is_403_and_costs_its_ip_but_nothing_of_the_clients(guarded, fake_retell, case, said):
    make, fake, state = guarded
    proxy = make(rate_limit_ip="1/hour", rate_limit_agent="1/hour", trusted_proxies=TRUSTED)
    token = {"missing": None, "another site": fake.mint("turnstile", "0x4AAAsite", "evil.example"),
             "forged": "ts.not-a-token-the-provider-made"}.get(case, fake.mint("turnstile", "0x4AAAsite", "shop.example"))
    if case == "provider says no":
        state["fault"] = "fail"
    if case == "expired at the provider":
        fake.tokens[token].verified = True  # used elsewhere already: the provider says timeout-or-duplicate
    refused = create(proxy, token, ip=BOT)
    assert refused.status_code == 403 and refused.json() == {"error": "bot_check_failed", "message": refused.json()["message"]}
    assert said in refused.json()["message"]
    assert refused.headers["access-control-allow-origin"] == SHOP  # so the widget can show why
    assert fake_retell[0].requests == []
    state["fault"] = None
    # Asking the provider cost the IP its budget: its next attempt is refused before anyone is asked.
    asked = len(fake.verifications)
    assert create(proxy, fake.mint("turnstile", "0x4AAAsite", "shop.example"), ip=BOT).status_code == 429
    assert len(fake.verifications) == asked
    # The client's own budget is untouched: the one call an hour is there for a real visitor.
    assert create(proxy, fake.mint("turnstile", "0x4AAAsite", "shop.example"), ip=VISITOR).status_code == 201


def test_bogus_tokens_from_one_ip_stop_reaching_the_provider_once_its_budget_is_spent(guarded, fake_retell):
    """The hostile review's attack: from one IP already answered 429, 60 bogus tokens made 60
    siteverify calls. Each check is now charged first; a spent IP asks nobody."""
    make, fake, _ = guarded
    proxy = make(rate_limit_ip="3/hour")
    statuses = [create(proxy, f"ts.bogus-{n}").status_code for n in range(60)]
    assert statuses == [403] * 3 + [429] * 57
    assert len(fake.verifications) == 3 and fake_retell[0].requests == []


def test_used_tokens_are_forgotten_in_expiry_order_and_never_exceed_the_cap(monkeypatch):
    monkeypatch.setattr(botcheck, "SEEN_MAX", 1000)  # as for 100,000, in a hundredth of the time
    clock = [0.0]
    # No secret: a token new to the checker reaches the point of asking the provider, and is refused there.
    checker = BotChecker({"turnstile": Provider("turnstile", None, "http://127.0.0.1:9/")}, None, 1.0,  # type: ignore[arg-type]
                         clock=lambda: clock[0])

    async def seen(token: str) -> str:
        try:
            await checker.check("turnstile", token, None, None, "shop", "")
        except BotRefused as exc:
            return exc.code if exc.status == 403 else "asked"
        return "passed"

    async def main() -> list[str]:
        out = [await seen("first")]  # remembered, then refused for want of a provider
        out.append(await seen("first"))  # remembered: refused before any provider is asked
        clock[0] = 601.0
        out.append(await seen("first"))  # forgotten after its 600 s
        for n in range(1050):
            await seen(f"t{n}")
        return out

    assert run_async(main())[:3] == ["asked", "bot_check_failed", "asked"]
    assert checker.remembered == 1000  # the oldest made room: memory is capped


@pytest.mark.parametrize("score_fault, action, status, said", [
    (None, "start_call", 201, None),
    ("low-score", "start_call", 403, "rated this visit as automated"),
    (None, "login", 403, "made for another action"),
])
def test_recaptcha_checks_the_action_and_the_score(guarded, score_fault, action, status, said):
    make, fake, state = guarded
    proxy = make()
    state["fault"] = score_fault
    answer = create(proxy, fake.mint("recaptcha", "6Lsite", "bolt.example", action), origin=BOLT, agent="agent_bolt")
    assert answer.status_code == status
    if said:
        assert said in answer.json()["message"]


def test_a_provider_that_is_slow_or_away_is_503_and_the_operator_is_told(guarded, caplog):
    make, fake, state = guarded
    state["fault"] = "timeout"
    caplog.set_level(logging.ERROR, logger="proxy.botcheck")
    slow = create(make(), fake.mint("turnstile", "0x4AAAsite", "shop.example"))
    assert slow.status_code == 503 and slow.json()["error"] == "bot_check_unavailable"
    sock = bind()
    port = sock.getsockname()[1]
    sock.close()
    away = create(make(turnstile_verify_url=f"http://127.0.0.1:{port}/siteverify"), fake.mint("turnstile", "0x4AAAsite", "shop.example"))
    assert away.status_code == 503 and "not answering" in away.json()["message"]
    lines = [r.getMessage() for r in caplog.records if r.name == "proxy.botcheck"]
    assert len(lines) == 2 and all("did not answer usably" in line for line in lines)
    assert fake.turnstile_secret not in caplog.text and fake.turnstile_secret not in slow.text + away.text


def test_a_missing_secret_refuses_that_clients_creates_and_says_which_variable(guarded, caplog):
    make, fake, _ = guarded
    caplog.set_level(logging.ERROR)
    proxy = make(turnstile_secret=None)
    answer = create(proxy, fake.mint("turnstile", "0x4AAAsite", "shop.example"))
    assert answer.status_code == 503 and answer.json()["error"] == "bot_check_unavailable"
    assert "PROXY_TURNSTILE_SECRET is not set" in caplog.text


def test_the_server_credential_needs_no_bot_token(guarded, fake_retell):
    make, _, _ = guarded
    token = "server-token-0123456789abcdef"
    proxy = make(server_token=Secret(token))
    answer = proxy.post(ENDPOINT, json={"agent_id": "agent_shop"}, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 201


def test_a_bot_token_that_is_not_a_string_is_a_clear_400(guarded):
    make, _, _ = guarded
    answer = make().post(ENDPOINT, json={"agent_id": "agent_shop", "bot_token": ["x"]}, headers={"Origin": SHOP})
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_bot_token"


def test_forged_origins_without_a_browser_get_nothing_from_a_guarded_client(guarded, fake_retell):
    """The curl of the threat model: any Origin, any IP, but no token a provider issued for the page."""
    make, fake, _ = guarded
    proxy = make()
    for forwarded in ("198.51.100.1", "198.51.100.2", "198.51.100.3"):
        answer = proxy.post(ENDPOINT, json={"agent_id": "agent_shop", "bot_token": "ts.guess"},
                            headers={"Origin": SHOP, "X-Forwarded-For": forwarded})
        assert answer.status_code == 403
    assert fake_retell[0].requests == []
    assert API_KEY not in answer.text


def test_the_reused_fault_hands_out_the_last_token_again_and_the_proxy_refuses_it(guarded):
    make, fake, state = guarded
    proxy = make()
    first = fake.mint("turnstile", "0x4AAAsite", "shop.example")
    assert create(proxy, first).status_code == 201
    state["fault"] = "reused"
    again = fake.mint("turnstile", "0x4AAAsite", "shop.example")
    assert again == first  # what the fake's script would hand the page under this fault
    refused = create(proxy, again)
    assert refused.status_code == 403 and "already used" in refused.json()["message"]


def test_the_fake_provider_mints_for_the_host_of_the_page_that_embeds_its_frame(bots):
    fake, url, _ = bots
    frame = httpx.get(f"{url}/turnstile/v0/frame", params={"sitekey": "k", "id": "f1"},
                      headers={"Referer": "http://client-a.localhost:8001/"})
    assert frame.status_code == 200 and "parent.postMessage" in frame.text
    (token,) = fake.tokens
    assert fake.tokens[token].hostname == "client-a.localhost" and token in frame.text
    assert "grecaptcha" in httpx.get(f"{url}/recaptcha/api.js").text
