"""A LiveKit client in Python, for testing the sandbox's media server without a browser.

It joins as livekit-client 2.23 does on ``/rtc/v1``: one peer connection whose offer rides in
the join request, the data channels ``_reliable`` and ``_lossy`` opened by the client, then a
microphone track announced with ``add_track`` and offered again. It records what the server
sends: signalling responses, the agent's data packets and the agent's audio.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

from aiortc import RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from livekit.protocol import models, rtc
from websockets.asyncio.client import ClientConnection, connect

from builder.sdk import MEDIA_HOST
from harness import livekit_wire as wire
from harness import loopback
from harness.speech import Speech, Voices, level_dbfs, tone
from harness.voice import AgentVoice

LOUD_DBFS = -40.0


class Microphone(AgentVoice):
    """The caller's microphone: silence, but for a 440 Hz tone while ``speak`` says so (a visitor's
    turn, to the agent's ears); silence too while disabled (as a browser sends for a disabled
    track)."""

    def __init__(self) -> None:
        super().__init__()
        self.enabled = True

    def speak(self, seconds: float) -> None:
        self.say(Speech("", tone(440.0, seconds), "tone"))

    async def recv(self):  # type: ignore[no-untyped-def]
        if not self.enabled:
            self._queue.clear()
        return await super().recv()


@dataclass
class Session:
    ws: ClientConnection
    pc: RTCPeerConnection
    microphone: Microphone
    join: rtc.JoinResponse
    reliable: RTCDataChannel
    responses: list[rtc.SignalResponse] = field(default_factory=list)
    packets: list[tuple[str, dict]] = field(default_factory=list)  # (sender identity, JSON payload)
    agent_frames: int = 0
    agent_loud_frames: int = 0
    answer_sdp: str = ""
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def send(self, request: rtc.SignalRequest) -> None:
        await self.ws.send(request.SerializeToString())

    async def until(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(predicate), timeout)

    async def notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    def events(self) -> list[str]:
        return [payload.get("event_type", "") for _, payload in self.packets]

    def updates(self) -> list[dict]:
        return [payload for _, payload in self.packets if payload.get("event_type") == "update"]

    def talking(self) -> list[str]:
        """The agent's talking events, in order."""
        return [e for e in self.events() if e in ("agent_start_talking", "agent_stop_talking")]

    def kinds(self) -> list[str]:
        return [r.WhichOneof("message") for r in self.responses]

    def published_sid(self) -> str:
        return next(r.track_published.track.sid for r in self.responses if r.WhichOneof("message") == "track_published")

    async def mute(self, muted: bool) -> None:
        self.microphone.enabled = not muted
        await self.send(rtc.SignalRequest(mute=rtc.MuteTrackRequest(sid=self.published_sid(), muted=muted)))

    async def leave(self) -> None:
        await self.send(rtc.SignalRequest(leave=rtc.LeaveRequest(reason=models.DisconnectReason.CLIENT_INITIATED,
                                                                  action=rtc.LeaveRequest.DISCONNECT)))


class ToneVoices(Voices):
    """The agent's lines as tones, 0.15 s a word: no espeak-ng, and lengths a test can plan on."""

    def get(self, text: str) -> Speech:
        if text not in self.spoken:
            self.spoken[text] = Speech(text, tone(330.0, max(0.3, 0.15 * len(text.split()))), "tone")
        return self.spoken[text]


def join_query(token: str, offer_sdp: str) -> str:
    request = rtc.JoinRequest(
        client_info=models.ClientInfo(sdk=models.ClientInfo.JS, version="2.23.0", protocol=17),
        connection_settings=rtc.ConnectionSettings(auto_subscribe=True),
        publisher_offer=rtc.SessionDescription(type="offer", sdp=offer_sdp, id=1),
    )
    return urlencode({"access_token": token, "join_request": wire.encode_join_request(request)})


def client_ssl(ca_file: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_file)


@contextlib.asynccontextmanager
async def joined(port: int, token: str, ca_file: str, *, extra_sdp: str = "") -> AsyncIterator[Session]:
    """Join the media server on 127.0.0.1:``port`` (TLS, under Retell's host name)."""
    loopback.restrict_ice()
    pc = RTCPeerConnection(loopback.rtc_configuration())
    reliable = pc.createDataChannel("_reliable", ordered=True)
    pc.createDataChannel("_lossy", ordered=False, maxRetransmits=0)
    pc.addTransceiver("audio", direction="recvonly")
    microphone = Microphone()
    await pc.setLocalDescription(await pc.createOffer())
    ws = await connect(f"wss://127.0.0.1:{port}/rtc/v1?{join_query(token, pc.localDescription.sdp + extra_sdp)}",
                       ssl=client_ssl(ca_file), server_hostname=MEDIA_HOST, open_timeout=10)
    first = rtc.SignalResponse.FromString(await ws.recv())
    assert first.WhichOneof("message") == "join", first
    session = Session(ws, pc, microphone, first.join, reliable)
    _record_packets(session)
    _record_agent_audio(session)
    reader = asyncio.ensure_future(_read_signals(session))
    await session.until(lambda: "answer" in session.kinds())
    await session.send(rtc.SignalRequest(add_track=rtc.AddTrackRequest(
        cid="mic-1", type=models.AUDIO, source=models.TrackSource.MICROPHONE)))
    try:
        yield session
    finally:
        reader.cancel()
        await ws.close()
        await pc.close()


def _record_packets(session: Session) -> None:
    """Keep every data packet the agent sends on ``_reliable``."""
    @session.reliable.on("message")
    def _packet(raw: bytes) -> None:
        packet = models.DataPacket.FromString(raw)
        session.packets.append((packet.participant_identity, json.loads(packet.user.payload)))
        asyncio.ensure_future(session.notify())


def _record_agent_audio(session: Session) -> None:
    """Count the agent's audio frames, and those loud enough to be speech."""
    @session.pc.on("track")
    def _track(track: MediaStreamTrack) -> None:
        async def consume() -> None:
            while True:
                try:
                    frame = await track.recv()
                except MediaStreamError:
                    return
                session.agent_frames += 1
                samples = bytes(frame.planes[0])[: frame.samples * 2 * len(frame.layout.channels)]
                session.agent_loud_frames += level_dbfs(samples) > LOUD_DBFS
                await session.notify()
        asyncio.ensure_future(consume())


async def _read_signals(session: Session) -> None:
    """Keep every signalling response; take the server's answer, and publish the microphone once
    the server has accepted its track, until the socket closes."""
    pc, offer_ids = session.pc, iter(range(2, 1000))
    try:
        async for frame in session.ws:
            response = rtc.SignalResponse.FromString(frame)
            session.responses.append(response)
            kind = response.WhichOneof("message")
            if kind == "answer":
                session.answer_sdp = response.answer.sdp
                await pc.setRemoteDescription(RTCSessionDescription(response.answer.sdp, "answer"))
            elif kind == "track_published":
                # As livekit-client does: the microphone goes on a new sendonly section.
                pc.addTransceiver(session.microphone, direction="sendonly")
                await pc.setLocalDescription(await pc.createOffer())
                await session.send(rtc.SignalRequest(offer=rtc.SessionDescription(
                    type="offer", sdp=pc.localDescription.sdp, id=next(offer_ids))))
            await session.notify()
    except Exception:  # the server closed the socket: the session is over
        pass
    finally:
        session.closed.set()
        await session.notify()
