import pytest

from harness.faults import CreateFault, FaultError, Faults


def test_parses_every_fault():
    faults = Faults.parse({"create": {"status": 429, "retry_after": 7, "delay": 0.5}, "token": "expired",
                           "call": "drop", "sdk": "fail", "proxy": "down", "cdn": "tamper", "rate_limit": "3/minute",
                           "agent": {"hangup_after": 2.5}, "media": "down"})
    assert faults == Faults(CreateFault(429, 7, 0.5), True, True, True, True, True, "3/minute", 2.5, True)
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
    ({"cdn": "down"}, 'takes only "tamper"'),
    ({"rate_limit": "3 per minute"}, "N/second, N/minute or N/hour"),
    ({"rate_limit": "0/minute"}, "N/second, N/minute or N/hour"),
    ({"agent": {"hangup_after": -1}}, "seconds from 0 to 600"),
    ({"agent": {"hangup_after": True}}, "seconds from 0 to 600"),
    ({"agent": {"leave": 1}}, "'agent' is an object with 'hangup_after'"),
    ({"agent": "hangup"}, "'agent' is an object with 'hangup_after'"),
])
def test_refuses_faults_it_cannot_apply(data, message):
    with pytest.raises(FaultError, match=message):
        Faults.parse(data)
