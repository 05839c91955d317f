"""One sandbox call on the media server: the caller's LiveKit session and Retell's agent in it.

The agent is the participant ``server`` that publishes ``agent_audio``. Once the caller's peer
connection is up and its ``_reliable`` data channel open, it holds the conversation of its script
(``harness.dialogue``): audio on the track, and Retell's data packets (``agent_start_talking``,
``update``, ``agent_stop_talking``) on the channel, while it meters and listens to the caller's
microphone (``harness.voice``, ``harness.hearing``). The call ends with the caller's ``leave``
(``user_hangup``), the agent's own ``leave`` (``agent_hangup``, ``inactivity``,
``max_duration_reached``: its script, the control origin or a fault), or an error, such as
garbage on the signalling socket or the data channel; each is recorded on the call, and nothing
here ever ends the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.rtcdatachannel import RTCDataChannel
from aiortc.sdp import candidate_from_sdp
from google.protobuf.message import DecodeError
from livekit.protocol import models, rtc
from starlette.websockets import WebSocket, WebSocketDisconnect

from harness import livekit_wire as wire
from harness import loopback
from harness.call import Call
from harness.dialogue import Dialogue
from harness.faults import Faults
from harness.hearing import SpeechDetector
from harness.script import Script
from harness.speech import Voices
from harness.voice import AgentVoice, MicrophoneMeter

log = logging.getLogger(__name__)

AGENT_IDENTITY = "server"  # Retell's SDK only listens to data from this identity
# If the caller's media is not connected this long after it joined, the call failed.
MEDIA_TIMEOUT = 20.0
# Retell's agent speaks once it hears the caller's line; without a microphone, after this long.
HEAR_TIMEOUT = 5.0


def _sid(prefix: str) -> str:
    return prefix + secrets.token_hex(6)


class AgentSession:
    def __init__(self, call: Call, script: Script, voices: Voices, faults: Faults) -> None:
        self.call = call
        self.faults = faults
        self.room_sid = _sid("RM_")
        self.client = wire.Participant(_sid("PA_"), "caller_" + call.call_id.removeprefix("call_"))
        self.agent = wire.Participant(_sid("PA_"), AGENT_IDENTITY)
        self.agent_track_sid = _sid("TR_")
        self.voice = AgentVoice()
        self.dialogue = Dialogue(call, script, voices, self.voice, self._data, self.hang_up)
        self.hearing = SpeechDetector(self.dialogue.heard_start, self.dialogue.heard_end)
        self.meter = MicrophoneMeter(listener=self.hearing.frame)
        self.pc = RTCPeerConnection(loopback.rtc_configuration())
        self._ws: WebSocket | None = None
        self._channel: RTCDataChannel | None = None
        self._sequence = 0
        self._tasks: set[asyncio.Task] = set()
        self._connected = asyncio.Event()
        self._channel_open = asyncio.Event()
        self._done = asyncio.Event()
        self._ice: dict[str, list[str]] = {"remote": [], "dropped": []}
        self._mic_tracks: dict[str, str] = {}  # cid -> track sid
        self._close_code = 1000
        self.pc.on("track", self._on_track)
        self.pc.on("datachannel", self._on_datachannel)
        self.pc.on("connectionstatechange", self._on_state)

    # -- the session ----------------------------------------------------------------------------

    async def run(self, ws: WebSocket, join: rtc.JoinRequest) -> None:
        """Serve the caller until the call ends; never raises for anything the caller sends."""
        self._ws = ws
        try:
            await ws.send_bytes(wire.join_response(self.room_sid, self.call.call_id, self.client, self.agent,
                                                   self.agent_track_sid))
            if join.HasField("publisher_offer"):
                await self._answer(join.publisher_offer)
            self._spawn(self._script())
            receiving = self._spawn(self._receive(ws))
            await self._done.wait()
            receiving.cancel()
        except Exception as exc:  # a broken session ends its call, never the server
            log.exception("call %s: the media session failed", self.call.call_id)
            self.call.end("error_retell", f"the media session failed: {exc}")
        finally:
            await self._close()

    async def _receive(self, ws: WebSocket) -> None:
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    raise WebSocketDisconnect(message.get("code", 1000))
                frame = message.get("bytes") if message.get("bytes") is not None else message.get("text", "")
                await self._handle(wire.signal_request(frame))
        except WebSocketDisconnect:
            # The tab closed, the network went, or livekit closed its socket before its leave was
            # written (it races on a quick hang-up): to Retell the caller is gone, as on a hang-up.
            log.info("call %s: the caller's signalling closed without a leave", self.call.call_id)
            self._finish("user_hangup", "the caller's signalling closed without a leave (the client vanished)")
        except wire.WireError as exc:
            log.warning("call %s: malformed signalling frame: %s", self.call.call_id, exc)
            self._finish("error_unknown", f"malformed signalling frame: {exc}")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("call %s: could not handle a signalling frame", self.call.call_id)
            self._finish("error_retell", f"could not handle a signalling frame: {exc}")

    async def _handle(self, request: rtc.SignalRequest) -> None:
        kind = request.WhichOneof("message")
        if kind == "offer":
            await self._answer(request.offer)
        elif kind == "trickle":
            await self._trickle(request.trickle)
        elif kind == "add_track":
            self._publish(request.add_track)
        elif kind == "mute":
            if request.mute.sid in self._mic_tracks.values():
                self.meter.set_muted(request.mute.muted)
        elif kind == "ping":
            await self._send(wire.pong(request.ping))
        elif kind == "ping_req":
            await self._send(wire.pong_response(request.ping_req.timestamp))
        elif kind == "leave":
            self._finish("user_hangup")
        # Anything else (subscription settings, sync state, ...) needs no answer from a one-agent room.

    async def _answer(self, offer: rtc.SessionDescription) -> None:
        sdp, dropped = loopback.loopback_sdp(offer.sdp)
        self._ice["dropped"] += dropped
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        if self.voice not in [s.track for s in self.pc.getSenders()]:
            # The agent's voice goes out on the first audio section the caller offered to receive.
            # livekit-client finds the track's participant by the stream id "<participant>|<track>";
            # aiortc has no API for a sender's stream id (a browser's addTrack(track, stream)).
            sender = self.pc.addTrack(self.voice)
            sender._stream_id = f"{self.agent.sid}|{self.agent_track_sid}"
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        mids = {t.mid: self.agent_track_sid for t in self.pc.getTransceivers() if t.sender.track is self.voice and t.mid}
        await self._send(wire.answer(self.pc.localDescription.sdp, offer.id, mids))

    async def _trickle(self, trickle: rtc.TrickleRequest) -> None:
        init = wire.candidate_init(trickle)
        line = init.get("candidate", "")
        if not line:
            return  # end of candidates
        if not loopback.keep_candidate(line):
            self._ice["dropped"].append(loopback.candidate_address(line) or line)
            return
        candidate = candidate_from_sdp(line.removeprefix("candidate:").removeprefix("a=candidate:"))
        candidate.sdpMid = init.get("sdpMid")
        candidate.sdpMLineIndex = init.get("sdpMLineIndex")
        self._ice["remote"].append(candidate.ip)
        await self.pc.addIceCandidate(candidate)

    def _publish(self, request: rtc.AddTrackRequest) -> None:
        sid = self._mic_tracks.setdefault(request.cid, _sid("TR_"))
        track = models.TrackInfo(sid=sid, type=request.type, name=request.name, source=request.source,
                                 muted=request.muted, mime_type="audio/opus")
        self.meter.set_muted(request.muted)
        self._spawn(self._send(wire.track_published(request.cid, track)))

    # -- the agent ------------------------------------------------------------------------------

    async def _script(self) -> None:
        try:
            await asyncio.wait_for(self._media_ready(), MEDIA_TIMEOUT)
        except TimeoutError:
            self._finish("error_user_not_joined", f"the caller's media did not connect within {MEDIA_TIMEOUT:.0f} s")
            return
        # The caller's SDK publishes its microphone once its call has started; greeting once it is
        # heard keeps the agent's first words after the caller is in the call, as with Retell.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.meter.heard.wait(), HEAR_TIMEOUT)
        if self.faults.call_drop:
            # The server goes away mid-call: no leave, the signalling and media just stop.
            self._finish("error_retell", "injected fault: the call was dropped", close_code=1011)
            return
        if self.faults.hangup_after is not None:
            self._spawn(self._hang_up_later(self.faults.hangup_after))
        self._data({"event_type": "metadata", "metadata": {"call_id": self.call.call_id, "agent_id": self.call.agent_id}})
        await self.dialogue.run()

    async def _media_ready(self) -> None:
        await self._connected.wait()
        await self._channel_open.wait()

    async def _hang_up_later(self, seconds: float) -> None:
        await asyncio.sleep(seconds)  # the scripted call length
        await self.hang_up()

    async def hang_up(self, reason: str = "agent_hangup", detail: str | None = None) -> None:
        """The agent ends the call: a signalling ``leave``, which the caller's SDK turns into
        ``call_ended``; the call records ``reason``."""
        if self._done.is_set():
            return
        with contextlib.suppress(Exception):
            await self._send(wire.leave())
        self._finish(reason, detail)

    def _data(self, payload: dict) -> None:
        if self._channel is None or self._channel.readyState != "open":
            return
        self._sequence += 1
        self._channel.send(wire.data_packet(self.agent, self._sequence, payload))

    # -- peer connection events -----------------------------------------------------------------

    def _on_track(self, track) -> None:  # type: ignore[no-untyped-def]
        if track.kind == "audio":
            self._spawn(self.meter.consume(track))

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if channel.label in ("_reliable", "_lossy"):
            channel.on("message", self._on_client_data)
        if channel.label != "_reliable":
            return
        self._channel = channel
        if channel.readyState == "open":
            self._channel_open.set()
        channel.on("open", self._channel_open.set)

    async def _on_state(self) -> None:
        state = self.pc.connectionState
        if state == "connected":
            self._connected.set()
            # An in-band data channel is open as soon as it is announced over a connected transport.
            if self._channel is not None and self._channel.readyState == "open":
                self._channel_open.set()
        elif state == "failed":
            self._finish("error_unknown", "the caller's media connection failed")

    def _on_client_data(self, message: bytes | str) -> None:
        # Retell's agent takes nothing from the caller's data channels, but what arrives there
        # must be LiveKit's DataPacket: anything else ends the call, never the server.
        try:
            models.DataPacket.FromString(message if isinstance(message, bytes) else message.encode())
        except (DecodeError, ValueError) as exc:
            log.warning("call %s: malformed data packet on the caller's data channel: %s", self.call.call_id, exc)
            self._finish("error_unknown", f"malformed data packet from the caller: {exc}", close_code=1011)

    # -- ending ---------------------------------------------------------------------------------

    def _finish(self, reason: str, detail: str | None = None, close_code: int = 1000) -> None:
        self.call.end(reason, detail)
        self._close_code = close_code
        self._done.set()

    async def _send(self, frame: bytes) -> None:
        if self._ws is not None and not self._done.is_set():
            await self._ws.send_bytes(frame)

    def _spawn(self, coroutine) -> asyncio.Task:  # type: ignore[no-untyped-def]
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _close(self) -> None:
        self.dialogue.close()
        self.hearing.close()
        self.call.microphone = self.meter.summary()
        self.call.agent_audio_frames = self.voice.frames_sent
        self.call.ice = self._ice_record()
        if not self._done.is_set():
            self._finish("error_retell", "the media session ended unexpectedly")
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await self.pc.close()
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close(self._close_code)

    def _ice_record(self) -> dict:
        # aiortc keeps each transport's aioice Connection private; its candidates and check list
        # are what was gathered and what was paired (the only addresses ever dialled).
        dtls = {t.sender.transport for t in self.pc.getTransceivers()} | {self.pc.sctp and self.pc.sctp.transport}
        connections = [d.transport._connection for d in dtls if d is not None]
        return {
            "local": sorted({c.host for conn in connections for c in conn.local_candidates}),
            "remote": sorted(set(self._ice["remote"])),
            "dropped": sorted(set(self._ice["dropped"])),
            "pairs": sorted({(p.local_candidate.host, p.remote_candidate.host) for conn in connections for p in conn._check_list}),
        }
