import json

from proxy.body import BodyRefused
from proxy.botcheck import BotRefused
from proxy.cors import OriginRefused
from proxy.refusal import NO_STORE, Refusal
from proxy.upstream import UpstreamError
from proxy.validation import InvalidBody


def test_a_refusal_answers_its_status_code_and_message_as_json():
    response = Refusal(415, "unsupported_media_type", "send the body as application/json").response()
    assert response.status_code == 415
    assert json.loads(response.body) == {"error": "unsupported_media_type", "message": "send the body as application/json"}
    assert "cache-control" not in response.headers


def test_its_own_headers_come_after_the_requests():
    refusal = Refusal(429, "quota_exceeded", "later", {"Retry-After": "60"})
    response = refusal.response(NO_STORE | {"Retry-After": "1", "Vary": "Origin"})
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["retry-after"] == "60"  # the refusal knows best how long to wait
    assert response.headers["vary"] == "Origin"


def test_every_refusal_of_the_proxy_is_one():
    assert (OriginRefused("no").status, OriginRefused("no").code) == (403, "origin_not_allowed")
    assert (InvalidBody("invalid_json", "no").status, InvalidBody("invalid_json", "no").code) == (400, "invalid_json")
    assert BodyRefused(413, "body_too_large", "no").status == 413
    assert BotRefused(503, "bot_check_unavailable", "no").status == 503
    assert UpstreamError(503, "upstream_busy", "busy", retry_after="7").headers == {"Retry-After": "7"}
    assert UpstreamError(502, "upstream_error", "failed").headers == {}
    for refusal in (OriginRefused("no"), InvalidBody("c", "no"), BodyRefused(400, "c", "no"), BotRefused(403, "c", "no"),
                    UpstreamError(502, "c", "no")):
        assert isinstance(refusal, Refusal) and str(refusal) == refusal.message == "no"
