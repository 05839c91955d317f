import pytest

from harness.faults import CreateFault, FaultError, Faults


def test_parses_every_fault():
    faults = Faults.parse({"create": {"status": 429, "retry_after": 7, "delay": 0.5}, "token": "expired",
                           "call": "drop", "sdk": "fail", "proxy": "down", "cdn": "tamper", "rate_limit": "3/minute",
                           "agent": {"hangup_after": 2.5}, "media": "down", "agents": {"agent_b": "no-media"},
                           "registry": {"unlisted": ["client-c"]}})
    assert faults == Faults(CreateFault(429, 7, 0.5), token_expired=True, call_drop=True, sdk_fail=True, proxy_down=True,
                            cdn_tamper="", rate_limit="3/minute", hangup_after=2.5, media_down=True,
                            agents=(("agent_b", "no-media"),), unlisted=("client-c",))
    assert faults.tampers("/v1/retell-widget.js") and faults.agent("agent_b") == "no-media"
    only = Faults.parse({"cdn": {"tamper": "/v1.0.0/"}})
    assert only.tampers("/v1.0.0/retell-widget.js") and not only.tampers("/v2/retell-widget.js")
    assert Faults.parse({}) == Faults()


@pytest.mark.parametrize("data, message", [
    ([], "must be a JSON object"),
    ({"disk": "full"}, "unknown fault"),
    ({"token": "stolen"}, 'takes only "expired"'),
    ({"create": {}}, "'create' is an object"),
    ({"create": {"status": 99}}, "HTTP status from 200 to 599"),
    ({"create": {"status": "500"}}, "HTTP status from 200 to 599"),
    ({"create": {"delay": 600}}, "seconds from 0 to 60"),
    ({"create": {"retry_after": -1}}, "whole seconds"),
    ({"create": {"colour": "red"}}, "'create' is an object"),
    ({"cdn": "down"}, "'cdn' is \"tamper\" \\(every JavaScript file\\)"),
    ({"rate_limit": "3 per minute"}, "N/second, N/minute or N/hour"),
    ({"rate_limit": "0/minute"}, "N/second, N/minute or N/hour"),
    ({"agent": {"hangup_after": -1}}, "seconds from 0 to 600"),
    ({"agent": {"hangup_after": True}}, "seconds from 0 to 600"),
    ({"agent": {"leave": 1}}, "'agent' is an object with 'hangup_after'"),
    ({"agent": "hangup"}, "'agent' is an object with 'hangup_after'"),
    ({"cdn": {"tamper": 3}}, "'cdn' is \"tamper\""),
    ({"agents": {"agent_a": "slow"}}, "'agents' maps agent ids to one of unknown, no-media"),
    ({"registry": {"unlisted": "client-a"}}, r"""'registry' is {"unlisted": \[client ids\]}"""),
])
def test_refuses_faults_it_cannot_apply(data, message):
    with pytest.raises(FaultError, match=message):
        Faults.parse(data)


def test_registry_overrides_gather_quotas_and_bot_checks_per_client():
    faults = Faults.parse({"quota": {"client-b": {"max_calls_per_day": 1}}, "bot_check": {"client-b": "recaptcha"},
                           "bot": "low-score"})
    assert faults.overrides() == {"client-b": {"max_calls_per_day": 1, "bot_check": "recaptcha"}}
    assert faults.bot == "low-score"


@pytest.mark.parametrize("data, message", [
    ({"quota": {"client-b": {"max_calls_per_day": 0}}}, "'quota' maps client ids to an object with"),
    ({"quota": {"client-b": {"calls": 3}}}, "'quota' maps client ids to an object with"),
    ({"quota": ["client-b"]}, "'quota' maps client ids to an object with"),
    ({"bot_check": {"client-b": "hcaptcha"}}, "'bot_check' maps client ids to one of turnstile, recaptcha"),
    ({"bot": "slow"}, "'bot' is one of fail, low-score, timeout, reused"),
])
def test_refuses_registry_and_bot_faults_it_cannot_apply(data, message):
    with pytest.raises(FaultError, match=message):
        Faults.parse(data)
