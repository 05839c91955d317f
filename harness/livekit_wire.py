"""LiveKit's signalling wire, as livekit-client 2.23 speaks it on ``/rtc/v1``.

Frames are binary protobuf (``SignalRequest`` in, ``SignalResponse`` out) from PyPI's
``livekit-protocol``, whose field numbers match the JS client's ``@livekit/protocol``. The join
request rides in the WebSocket URL: ``join_request`` is a base64url ``WrappedJoinRequest`` whose
``join_request`` bytes are a ``JoinRequest``, gzip-compressed when the wrapper says so.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import time
import zlib
from dataclasses import dataclass

from google.protobuf.message import DecodeError
from livekit.protocol import models, rtc

# What the JoinResponse says about the server; the client only logs it.
SERVER_VERSION = "1.9.0"
PROTOCOL = 16
# Seconds between the client's pings, and how long without a pong before it gives up.
PING_INTERVAL = 5
PING_TIMEOUT = 15
# The most a join request may hold once decompressed: an SDP offer is a few kilobytes.
_MAX_JOIN_BYTES = 256 * 1024


class WireError(ValueError):
    """A frame or join request that is not what a LiveKit client sends; the message says why."""


@dataclass(frozen=True, slots=True)
class Participant:
    sid: str
    identity: str


def join_request(encoded: str) -> rtc.JoinRequest:
    """The ``JoinRequest`` inside the URL's ``join_request`` parameter."""
    if not encoded:
        raise WireError("join_request is missing: this server speaks livekit-client's /rtc/v1 join")
    try:
        standard = encoded.replace("-", "+").replace("_", "/")
        raw = base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
        wrapped = rtc.WrappedJoinRequest.FromString(raw)
    except (binascii.Error, ValueError, DecodeError) as exc:
        raise WireError(f"join_request is not a base64url WrappedJoinRequest: {exc}") from None
    body = wrapped.join_request
    if wrapped.compression == rtc.WrappedJoinRequest.GZIP:
        try:
            body = _gunzip(body)
        except (OSError, EOFError, zlib.error) as exc:
            raise WireError(f"join_request says GZIP but does not decompress: {exc}") from None
    elif wrapped.compression != rtc.WrappedJoinRequest.NONE:
        raise WireError(f"join_request uses an unknown compression {wrapped.compression}")
    try:
        return rtc.JoinRequest.FromString(body)
    except DecodeError as exc:
        raise WireError(f"join_request does not hold a JoinRequest: {exc}") from None


def _gunzip(data: bytes) -> bytes:
    # Bounded, so a small request cannot inflate into a large allocation.
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = inflater.decompress(data, _MAX_JOIN_BYTES)
    if inflater.unconsumed_tail:
        raise OSError(f"more than {_MAX_JOIN_BYTES} bytes once decompressed")
    return out


def encode_join_request(request: rtc.JoinRequest, compress: bool = True) -> str:
    """The URL parameter a client sends for ``request`` (the inverse of ``join_request``)."""
    body = request.SerializeToString()
    wrapped = rtc.WrappedJoinRequest(
        compression=rtc.WrappedJoinRequest.GZIP if compress else rtc.WrappedJoinRequest.NONE,
        join_request=gzip.compress(body, mtime=0) if compress else body,
    )
    return base64.urlsafe_b64encode(wrapped.SerializeToString()).decode().rstrip("=")


def signal_request(frame: bytes | str) -> rtc.SignalRequest:
    if isinstance(frame, str):
        raise WireError("a text frame; LiveKit signalling is binary protobuf")
    try:
        return rtc.SignalRequest.FromString(frame)
    except DecodeError as exc:
        raise WireError(f"not a SignalRequest: {exc}") from None


def join_response(room_sid: str, room_name: str, client: Participant, agent: Participant, agent_track_sid: str) -> bytes:
    """The first frame of a session: the room, the client, and the agent already in it with
    its ``agent_audio`` track, which is what makes Retell's SDK emit ``call_ready``."""
    now = int(time.time())
    permission = models.ParticipantPermission(can_subscribe=True, can_publish=True, can_publish_data=True)
    agent_info = models.ParticipantInfo(
        sid=agent.sid, identity=agent.identity, state=models.ParticipantInfo.ACTIVE, joined_at=now,
        kind=models.ParticipantInfo.AGENT, is_publisher=True, permission=permission,
        tracks=[models.TrackInfo(sid=agent_track_sid, type=models.AUDIO, name="agent_audio",
                                 source=models.TrackSource.MICROPHONE, mime_type="audio/opus")],
    )
    response = rtc.JoinResponse(
        room=models.Room(sid=room_sid, name=room_name, creation_time=now, num_participants=2, num_publishers=1),
        participant=models.ParticipantInfo(sid=client.sid, identity=client.identity, state=models.ParticipantInfo.JOINED,
                                           joined_at=now, permission=permission),
        other_participants=[agent_info],
        server_version=SERVER_VERSION,
        ping_interval=PING_INTERVAL,
        ping_timeout=PING_TIMEOUT,
        server_info=models.ServerInfo(edition=models.ServerInfo.Standard, version=SERVER_VERSION, protocol=PROTOCOL),
    )
    # No ice_servers: there is nothing for the browser to reach but this machine.
    return rtc.SignalResponse(join=response).SerializeToString()


def answer(sdp: str, offer_id: int, mid_to_track_id: dict[str, str]) -> bytes:
    description = rtc.SessionDescription(type="answer", sdp=sdp, id=offer_id, mid_to_track_id=mid_to_track_id)
    return rtc.SignalResponse(answer=description).SerializeToString()


def track_published(cid: str, track: models.TrackInfo) -> bytes:
    return rtc.SignalResponse(track_published=rtc.TrackPublishedResponse(cid=cid, track=track)).SerializeToString()


def pong(timestamp: int) -> bytes:
    return rtc.SignalResponse(pong=timestamp).SerializeToString()


def pong_response(last_ping_timestamp: int) -> bytes:
    now = int(time.time() * 1000)
    return rtc.SignalResponse(pong_resp=rtc.Pong(last_ping_timestamp=last_ping_timestamp, timestamp=now)).SerializeToString()


def leave(reason: int = models.DisconnectReason.ROOM_DELETED) -> bytes:
    """Ends the call on the client: livekit disconnects, and Retell's SDK emits ``call_ended``."""
    request = rtc.LeaveRequest(can_reconnect=False, reason=reason, action=rtc.LeaveRequest.DISCONNECT)
    return rtc.SignalResponse(leave=request).SerializeToString()


def data_packet(sender: Participant, sequence: int, payload: dict) -> bytes:
    """A reliable data packet from ``sender`` carrying ``payload`` as JSON, as Retell's agent sends
    its events (``update``, ``agent_start_talking``, ...)."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    packet = models.DataPacket(
        kind=models.DataPacket.RELIABLE, participant_identity=sender.identity, participant_sid=sender.sid,
        sequence=sequence,
        user=models.UserPacket(participant_sid=sender.sid, participant_identity=sender.identity, payload=body),
    )
    return packet.SerializeToString()


def candidate_init(trickle: rtc.TrickleRequest) -> dict:
    """The ``RTCIceCandidateInit`` a trickle request carries as JSON."""
    try:
        init = json.loads(trickle.candidateInit)
    except ValueError:
        raise WireError("trickle candidateInit is not JSON") from None
    if not isinstance(init, dict) or not isinstance(init.get("candidate", ""), str):
        raise WireError("trickle candidateInit is not an RTCIceCandidateInit object")
    return init
