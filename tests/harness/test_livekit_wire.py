"""LiveKit's signalling wire: the join request in the URL, and frames that are not LiveKit's."""

from __future__ import annotations

import base64
import gzip

import pytest
from livekit.protocol import models, rtc

from harness import livekit_wire as wire


def test_a_join_request_round_trips_compressed_or_not():
    request = rtc.JoinRequest(publisher_offer=rtc.SessionDescription(type="offer", sdp="v=0", id=1),
                              client_info=models.ClientInfo(sdk=models.ClientInfo.JS, version="2.23.0"))
    for compress in (True, False):
        assert wire.join_request(wire.encode_join_request(request, compress)) == request


@pytest.mark.parametrize("encoded, message", [
    ("", "join_request is missing"),
    ("%%%", "not a base64url WrappedJoinRequest"),
    (base64.urlsafe_b64encode(b"\xff\xff\xff").decode(), "not a base64url WrappedJoinRequest"),
    (base64.urlsafe_b64encode(rtc.WrappedJoinRequest(compression=rtc.WrappedJoinRequest.GZIP,
                                                     join_request=b"not gzip").SerializeToString()).decode(),
     "says GZIP but does not decompress"),
    (base64.urlsafe_b64encode(rtc.WrappedJoinRequest(compression=rtc.WrappedJoinRequest.GZIP,
                                                     join_request=gzip.compress(bytes(1_000_000))).SerializeToString()).decode(),
     "more than 262144 bytes"),
])
def test_a_malformed_join_request_is_refused_with_its_reason(encoded, message):
    with pytest.raises(wire.WireError, match=message):
        wire.join_request(encoded)


def test_frames_must_be_binary_signal_requests():
    with pytest.raises(wire.WireError, match="text frame"):
        wire.signal_request('{"event": "hangup"}')
    with pytest.raises(wire.WireError, match="not a SignalRequest"):
        wire.signal_request(b"\xff\xff\xff\xff")
    ping = rtc.SignalRequest(ping=42).SerializeToString()
    assert wire.signal_request(ping).ping == 42


def test_the_agents_data_packet_is_what_retells_sdk_reads():
    packet = models.DataPacket.FromString(wire.data_packet(wire.Participant("PA_1", "server"), 3, {"event_type": "update"}))
    assert packet.kind == models.DataPacket.RELIABLE and packet.sequence == 3
    assert packet.participant_identity == "server" and packet.user.payload == b'{"event_type":"update"}'


def test_a_trickle_candidate_must_be_a_json_candidate_init():
    assert wire.candidate_init(rtc.TrickleRequest(candidateInit='{"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"}'))
    for bad in ("not json", '["a"]', '{"candidate": 7}'):
        with pytest.raises(wire.WireError):
            wire.candidate_init(rtc.TrickleRequest(candidateInit=bad))
