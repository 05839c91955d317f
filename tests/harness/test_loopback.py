"""The sandbox's WebRTC never offers, accepts or dials an address but loopback."""

from __future__ import annotations

import aioice.ice
import pytest
from aiortc import RTCPeerConnection

from harness import loopback
from tests.conftest import run_async


@pytest.mark.parametrize("line, kept", [
    ("candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host generation 0", True),
    ("a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host", True),
    ("candidate:2 1 udp 2122262783 ::1 50001 typ host", True),
    ("candidate:3 1 udp 2122260223 10.0.0.7 50002 typ host", False),
    ("candidate:4 1 udp 2122260223 192.0.2.2 50003 typ host", False),
    ("candidate:5 1 udp 2122260223 4b3c9a3e-1f2e-4d5c-9e3f-7a6b5c4d3e2f.local 50004 typ host", False),
    ("candidate:6 1 udp 1686052607 203.0.113.9 50005 typ srflx raddr 0.0.0.0 rport 0", False),
    ("candidate:7 1 tcp 1518280447 127.0.0.2 9 typ host tcptype active", False),  # loopback, but not the one we use
    ("candidate: garbage", False),
    ("", False),
])
def test_only_127_0_0_1_and_the_ipv6_loopback_are_kept(line, kept):
    assert loopback.keep_candidate(line) is kept


def test_an_offer_loses_every_candidate_line_for_another_address():
    sdp = "\r\n".join([
        "v=0", "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        "a=candidate:1 1 udp 1 127.0.0.1 5000 typ host",
        "a=candidate:2 1 udp 1 10.1.2.3 5001 typ host",
        "a=candidate:3 1 udp 1 abc.local 5002 typ host",
        "a=mid:0", "",
    ])
    kept, dropped = loopback.loopback_sdp(sdp)
    assert "127.0.0.1 5000" in kept and "10.1.2.3" not in kept and ".local" not in kept
    assert "a=mid:0" in kept and dropped == ["10.1.2.3", "abc.local"]


def test_aiortc_gathers_only_127_0_0_1_and_gets_no_ice_servers():
    loopback.restrict_ice()
    assert loopback.rtc_configuration().iceServers == []  # None would mean Google's STUN server
    assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == ["127.0.0.1"]

    async def gather() -> list[str]:
        pc = RTCPeerConnection(loopback.rtc_configuration())
        pc.addTransceiver("audio")
        pc.createDataChannel("x")
        await pc.setLocalDescription(await pc.createOffer())
        lines = [line for line in pc.localDescription.sdp.splitlines() if line.startswith("a=candidate:")]
        await pc.close()
        return lines

    lines = run_async(gather())
    assert lines and all(loopback.candidate_address(line) == "127.0.0.1" for line in lines), lines


class _Transport:
    def __init__(self) -> None:
        self.sent: list[tuple] = []

    def sendto(self, data: bytes, addr: tuple) -> None:
        self.sent.append(addr)


def test_nothing_is_sent_to_or_accepted_from_another_address(caplog):
    loopback.restrict_ice()

    class Receiver:
        def __init__(self) -> None:
            self.seen: list[tuple] = []

        def _log_info(self, *args) -> None: ...

    async def exchange() -> list[tuple]:
        protocol = aioice.ice.StunProtocol(Receiver())  # type: ignore[arg-type]
        protocol.transport = _Transport()  # type: ignore[assignment]
        message = aioice.stun.Message(message_method=aioice.stun.Method.BINDING, message_class=aioice.stun.Class.REQUEST)
        protocol.send_stun(message, ("192.0.2.2", 3478))
        protocol.send_stun(message, ("127.0.0.1", 3478))
        await protocol.send_data(b"x", ("10.0.0.1", 5000))
        # A packet from another source address is dropped before aioice sees it (the receiver
        # here has no handler for it, so reaching it would raise).
        protocol.datagram_received(bytes(message), ("192.0.2.2", 3478))
        return protocol.transport.sent

    assert run_async(exchange()) == [("127.0.0.1", 3478)]
    assert "refused to send to 192.0.2.2" in caplog.text and "refused to send to 10.0.0.1" in caplog.text
