"""The sandbox's stand-in for Retell's media servers, driven by a LiveKit client in Python."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
import pytest
from livekit.protocol import models, rtc
from starlette.applications import Starlette
from starlette.routing import Mount
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from builder.sdk import MEDIA_HOST
from harness.certificates import issue
from harness.control import Control
from harness.fake_retell import TOKEN_TTL_SECONDS, FakeRetell
from harness.faults import Faults
from harness.media_server import MediaServer
from harness.script import Script, Scripts
from tests.conftest import run_async, running
from tests.harness.livekit_client import ToneVoices, client_ssl, join_query, joined

KEY = "key_media_test"
# A short greeting keeps each call to a second or so.
GREETING = "Hello! How can I help?"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _NoProxy:
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def server(clock: Clock) -> MediaServer:
    fake = FakeRetell(KEY, frozenset({"agent_one"}), clock=clock)
    return MediaServer(fake, Scripts({"agent_one": Script(GREETING)}), ToneVoices())


@pytest.fixture
def media(tmp_path: Path, clock: Clock, server: MediaServer):
    fake = server.fake
    certificates = issue(tmp_path, [MEDIA_HOST])
    app = Starlette(routes=[*server.app().routes, Mount("/__control", Control(fake, _NoProxy(), server).app())])
    with running(app, **certificates.uvicorn_options()) as port:
        yield fake, port, str(certificates.ca_file), clock


def token(fake: FakeRetell) -> tuple[str, str]:
    status, body, _ = fake._create(f"Bearer {KEY}", b'{"agent_id": "agent_one"}')
    assert status == 201
    return body["call_id"], body["access_token"]


def test_a_call_speaks_livekit_and_the_agent_greets_then_the_caller_hangs_up(media):
    fake, port, ca, _ = media
    call_id, access_token = token(fake)

    async def call():
        async with joined(port, access_token, ca) as session:
            await session.until(lambda: "agent_stop_talking" in session.events() and session.agent_loud_frames > 0)
            assert fake.calls[call_id].call_status == "ongoing"
            session.microphone.speak(0.1)  # too short to be a turn, loud enough to be metered
            frames = session.agent_frames
            await session.until(lambda: session.agent_frames > frames + 15)
            await session.leave()
            await session.until(lambda: session.closed.is_set())
            return session

    session = run_async(call())
    agent = session.join.other_participants[0]
    assert agent.identity == "server" and agent.state == models.ParticipantInfo.ACTIVE
    assert [(t.name, t.type, t.source) for t in agent.tracks] == [("agent_audio", models.AUDIO, models.TrackSource.MICROPHONE)]
    assert list(session.join.ice_servers) == []  # nothing for the browser to reach but this machine
    answer = next(r.answer for r in session.responses if r.WhichOneof("message") == "answer")
    assert answer.id == 1  # the answer echoes the offer's id
    # livekit-client finds the agent's track by the stream id "<participant sid>|<track sid>".
    assert f"a=msid:{agent.sid}|{agent.tracks[0].sid} " in session.answer_sdp
    events = session.events()
    assert events[:2] == ["metadata", "agent_start_talking"] and events[-1] == "agent_stop_talking"
    assert set(events[2:-1]) == {"update"}
    assert {sender for sender, _ in session.packets} == {"server"}
    # The greeting grows word by word as it plays (words the event loop fell behind on come out
    # together when the audio ends), then the turn passes to the caller with the whole line.
    transcripts = [u["transcript"] for u in session.updates()]
    assert all([entry["role"] for entry in t] == ["agent"] for t in transcripts)
    counts = [len(t[0]["content"].split()) for t in transcripts]
    assert all(GREETING.startswith(t[0]["content"]) for t in transcripts)
    assert counts[0] == 1 and counts[:-1] == sorted(set(counts[:-1])) and len(counts) > 2  # it grew, word by word or faster
    assert [t[0]["content"] for t in transcripts[-2:]] == [GREETING, GREETING]
    assert [u.get("turntaking") for u in session.updates()] == ["agent_turn", *[None] * (len(counts) - 2), "user_turn"]
    record = fake.calls[call_id].record()
    assert record["call_status"] == "ended" and record["disconnection_reason"] == "user_hangup"
    assert record["duration_ms"] > 0 and record["end_timestamp"] >= record["start_timestamp"]
    assert record["microphone"]["frames"] > 0 and record["microphone"]["frames_above_-40dBFS"] > 0
    assert record["transcript"] == f"Agent: {GREETING}\n"
    assert record["agent_audio_frames"] > 0 and record["access_token"] is None


def test_a_muted_microphone_is_heard_as_silence_and_recorded_as_muted(media, server):
    fake, port, ca, _ = media
    call_id, access_token = token(fake)

    def heard(index: int) -> tuple[int, int]:
        """The media server's live count of the segment's frames and loud frames, settling included
        (waiting on what it heard, not on time: a loaded machine delays the caller's audio)."""
        segments = server.sessions[call_id].meter.segments
        if len(segments) <= index:
            return 0, 0
        s = segments[index]
        return s.frames + s.settling_frames, s.loud_frames + s.settling_loud_frames

    async def call():
        async with joined(port, access_token, ca) as session:
            await session.until(lambda: "agent_stop_talking" in session.events())
            session.microphone.speak(0.1)
            await session.until(lambda: heard(0)[1] >= 4)  # the tone: 5 frames of 20 ms, its onset may decode quiet
            await session.mute(True)
            session.microphone.speak(0.5)  # a muted track sends silence whatever is said
            await session.until(lambda: heard(1)[0] > 50)  # a second more of the call
            await session.mute(False)
            session.microphone.speak(0.5)
            await session.until(lambda: heard(2)[1] >= 20)  # of the tone's 25 frames
            await session.leave()
            await session.until(lambda: session.closed.is_set())

    run_async(call())
    segments = fake.calls[call_id].microphone["segments"]
    assert [s["muted"] for s in segments] == [False, True, False]
    loud = [s["frames_above_-40dBFS"] for s in segments]
    assert loud[0] > 0 and loud[1] == 0 and loud[2] > 0, segments
    assert segments[1]["frames"] > 0  # silence still arrives while muted
    assert segments[0]["since"] < segments[1]["since"] < segments[2]["since"]


def test_the_agent_hangs_up_with_a_leave_when_asked_and_after_a_scripted_length(media):
    fake, port, ca, _ = media

    async def asked():
        call_id, access_token = token(fake)
        async with joined(port, access_token, ca) as session:
            await session.until(lambda: "agent_start_talking" in session.events())
            async with httpx.AsyncClient(verify=client_ssl(ca)) as http:
                response = await http.post(f"https://127.0.0.1:{port}/__control/calls/{call_id}/hangup")
                assert response.status_code == 200
                missing = await http.post(f"https://127.0.0.1:{port}/__control/calls/call_nope/hangup")
                assert missing.status_code == 404 and "no call" in missing.json()["error"]
            await session.until(lambda: session.closed.is_set())
            return call_id, session

    call_id, session = run_async(asked())
    leave = next(r.leave for r in session.responses if r.WhichOneof("message") == "leave")
    assert leave.action == rtc.LeaveRequest.DISCONNECT and not leave.can_reconnect
    assert fake.calls[call_id].disconnection_reason == "agent_hangup"

    fake.faults = Faults(hangup_after=0.5)

    async def scripted():
        call_id, access_token = token(fake)
        async with joined(port, access_token, ca) as session:
            await session.until(lambda: session.closed.is_set())
            return call_id, session

    call_id, session = run_async(scripted())
    assert "leave" in session.kinds()
    record = fake.calls[call_id].record()
    assert record["disconnection_reason"] == "agent_hangup" and record["duration_ms"] >= 500


def _refusal(port: int, ca: str, access_token: str) -> tuple[int, str]:
    async def attempt():
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"wss://127.0.0.1:{port}/rtc/v1?{join_query(access_token, 'v=0')}", ssl=client_ssl(ca),
                          server_hostname=MEDIA_HOST)
        async with httpx.AsyncClient(verify=client_ssl(ca)) as http:
            validate = await http.get(f"https://127.0.0.1:{port}/rtc/v1/validate", params={"access_token": access_token})
        return refused.value.response.status_code, validate

    status, validate = run_async(attempt())
    assert validate.status_code == 401  # livekit-client reports this as "not allowed"
    return status, validate.text


def test_unknown_reused_and_expired_tokens_are_refused_as_livekit_refuses_them(media):
    fake, port, ca, clock = media
    assert _refusal(port, ca, "eyJ.forged.token") == (401, "invalid token: signature is invalid or the token is unknown")

    call_id, access_token = token(fake)

    async def use_once():
        async with joined(port, access_token, ca) as session:
            await session.leave()
            await session.until(lambda: session.closed.is_set())

    run_async(use_once())
    status, message = _refusal(port, ca, access_token)
    assert status == 401 and "already used" in message
    assert fake.calls[call_id].disconnection_reason == "user_hangup"  # the refusal does not touch the call

    call_id, access_token = token(fake)
    clock.now += TOKEN_TTL_SECONDS + 1
    status, message = _refusal(port, ca, access_token)
    assert status == 401 and "expired" in message
    assert fake.calls[call_id].call_status == "error"
    assert fake.calls[call_id].disconnection_reason == "registered_call_timeout"


def test_a_fresh_token_validates(media):
    fake, port, ca, _ = media
    call_id, access_token = token(fake)
    response = httpx.get(f"https://127.0.0.1:{port}/rtc/v1/validate", params={"access_token": access_token},
                         verify=client_ssl(ca))
    assert response.status_code == 200 and response.text == "success"
    assert fake.calls[call_id].call_status == "registered"  # validating spends nothing


def test_a_malformed_join_a_malformed_frame_and_a_vanished_client_each_end_only_their_call(media, caplog):
    fake, port, ca, _ = media
    caplog.set_level(logging.INFO, logger="harness")
    bad_join, bad_join_token = token(fake)

    async def malformed_join():
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"wss://127.0.0.1:{port}/rtc/v1?access_token={bad_join_token}&join_request=%%%",
                          ssl=client_ssl(ca), server_hostname=MEDIA_HOST)
        return refused.value.response.status_code

    assert run_async(malformed_join()) == 400
    assert fake.calls[bad_join].disconnection_reason == "error_unknown"
    assert "malformed join request" in fake.calls[bad_join].detail

    bad_frame, bad_frame_token = token(fake)

    async def malformed_frame():
        async with joined(port, bad_frame_token, ca) as session:
            await session.ws.send(b"\xff\xff\xff not protobuf")
            await session.until(lambda: session.closed.is_set())

    run_async(malformed_frame())
    assert fake.calls[bad_frame].disconnection_reason == "error_unknown"
    assert "malformed signalling frame" in fake.calls[bad_frame].detail

    vanished, vanished_token = token(fake)

    async def vanish():
        async with joined(port, vanished_token, ca) as session:
            await session.until(lambda: "agent_start_talking" in session.events())
            session.ws.transport.abort()  # no leave, no close frame: the tab is gone

    run_async(vanish())

    # The server notices the dead socket on its own loop: wait for it to record the end.
    ended = httpx.get(f"https://127.0.0.1:{port}/__control/calls/{vanished}?wait=ended&timeout=20",
                      verify=client_ssl(ca))
    assert ended.status_code == 200, ended.text
    # To Retell a caller who is gone has hung up; the record says how.
    assert ended.json()["disconnection_reason"] == "user_hangup"
    assert "closed without a leave" in ended.json()["detail"]
    assert any("malformed signalling frame" in r.getMessage() for r in caplog.records)

    # The server is still there for the next call.
    test_a_fresh_token_validates(media)


def test_regions_answer_cross_origin_and_the_old_rtc_path_is_refused_with_a_log_line(media, caplog):
    _, port, ca, _ = media
    caplog.set_level(logging.WARNING, logger="harness")
    base = f"https://127.0.0.1:{port}"
    regions = httpx.get(base + "/settings/regions", headers={"Authorization": "Bearer x", "Origin": "http://a.localhost"},
                        verify=client_ssl(ca))
    assert regions.json() == {"regions": []} and regions.headers["access-control-allow-origin"] == "*"
    preflight = httpx.options(base + "/settings/regions", headers={"Access-Control-Request-Headers": "authorization"},
                              verify=client_ssl(ca))
    assert preflight.status_code == 204 and "authorization" in preflight.headers["access-control-allow-headers"]

    async def old_path():
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"wss://127.0.0.1:{port}/rtc?access_token=x", ssl=client_ssl(ca), server_hostname=MEDIA_HOST)
        return refused.value.response.status_code

    assert run_async(old_path()) == 404
    assert any("/rtc/v1 signalling only" in r.getMessage() for r in caplog.records)


def test_candidates_for_other_addresses_are_dropped_and_only_loopback_is_gathered_or_dialled(media):
    fake, port, ca, _ = media
    call_id, access_token = token(fake)
    # What a browser offers besides loopback: its private address and an mDNS name.
    extra = ("a=candidate:9 1 udp 2122260223 10.11.12.13 40000 typ host\r\n"
             "a=candidate:10 1 udp 2122260223 0d5e7a1c-2b3f-4c5d-8e9f-1a2b3c4d5e6f.local 40001 typ host\r\n")

    async def call():
        async with joined(port, access_token, ca, extra_sdp=extra) as session:
            await session.until(lambda: "agent_start_talking" in session.events())
            trickle = rtc.TrickleRequest(candidateInit='{"candidate": "candidate:11 1 udp 1 192.0.2.7 40002 typ host", '
                                                      '"sdpMid": "0", "sdpMLineIndex": 0}', target=rtc.PUBLISHER)
            await session.send(rtc.SignalRequest(trickle=trickle))
            await session.leave()
            await session.until(lambda: session.closed.is_set())
            return session

    session = run_async(call())
    ice = fake.calls[call_id].ice
    assert {"10.11.12.13", "0d5e7a1c-2b3f-4c5d-8e9f-1a2b3c4d5e6f.local", "192.0.2.7"} <= set(ice["dropped"])
    assert ice["local"] == ["127.0.0.1"]
    assert ice["pairs"] and all(local == remote == "127.0.0.1" for local, remote in ice["pairs"])
    candidates = [line for line in session.answer_sdp.splitlines() if line.startswith("a=candidate:")]
    assert candidates and all(" 127.0.0.1 " in line for line in candidates)


def test_the_control_origin_answers_once_a_call_has_ended(media):
    fake, port, ca, _ = media
    base = f"https://127.0.0.1:{port}/__control/calls"
    waiting, _ = token(fake)
    with httpx.Client(verify=client_ssl(ca), timeout=10) as http:
        assert http.get(f"{base}/call_nope").status_code == 404
        late = http.get(f"{base}/{waiting}", params={"wait": "ended", "timeout": "0.2"})
        assert late.status_code == 408 and late.json()["call"]["call_status"] == "registered"
        assert http.get(f"{base}/{waiting}", params={"wait": "ended", "timeout": "soon"}).status_code == 400
    call_id, access_token = token(fake)

    async def call_and_wait():
        async with joined(port, access_token, ca) as session, httpx.AsyncClient(verify=client_ssl(ca), timeout=10) as http:
            await session.until(lambda: "agent_start_talking" in session.events())
            # Asked while the call is on; answered when the leave has ended it.
            pending = asyncio.ensure_future(http.get(f"{base}/{call_id}", params={"wait": "ended"}))
            await session.leave()
            return await pending

    response = run_async(call_and_wait())
    assert response.status_code == 200 and response.json()["disconnection_reason"] == "user_hangup"
