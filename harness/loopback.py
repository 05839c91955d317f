"""WebRTC on loopback only: what the sandbox's media server offers, accepts and dials.

aioice's host-address discovery skips 127.0.0.1 and offers every other interface of the machine,
aiortc's default ICE servers are a public STUN server, and a browser offers its private and mDNS
addresses as well as loopback. Here the server gathers 127.0.0.1 and nothing else, gets no ICE
servers, drops any remote candidate that is not 127.0.0.1 or ::1 (an mDNS ``.local`` name would
make aioice send multicast), ignores packets from any other source address and refuses to send a
packet anywhere else.
"""

from __future__ import annotations

import ipaddress
import logging
import re

import aioice.ice
from aiortc import RTCConfiguration

log = logging.getLogger(__name__)

LOOPBACK = frozenset({"127.0.0.1", "::1"})
_CANDIDATE = re.compile(r"^(?:a=)?candidate:\S+ \d+ \S+ \d+ (\S+) \d+ typ ", re.I)
_installed = False


def rtc_configuration() -> RTCConfiguration:
    # An empty list, never None: None means Google's public STUN server.
    return RTCConfiguration(iceServers=[])


def restrict_ice() -> None:
    """Make aioice, in this process, gather only 127.0.0.1 and send only to loopback."""
    global _installed
    if _installed:
        return
    aioice.ice.get_host_addresses = _loopback_addresses
    original_send = aioice.ice.StunProtocol.send_stun
    original_data = aioice.ice.StunProtocol.send_data

    def send_stun(self, message, addr):  # type: ignore[no-untyped-def]
        if _guard(addr):
            original_send(self, message, addr)

    async def send_data(self, data, addr):  # type: ignore[no-untyped-def]
        if _guard(addr):
            await original_data(self, data, addr)

    original_received = aioice.ice.StunProtocol.datagram_received

    def datagram_received(self, data, addr):  # type: ignore[no-untyped-def]
        # A browser's socket on another interface can reach 127.0.0.1 with that interface's
        # source address; answering would make it a peer-reflexive candidate to send to.
        if is_loopback(str(addr[0])):
            original_received(self, data, addr)

    aioice.ice.StunProtocol.send_stun = send_stun
    aioice.ice.StunProtocol.send_data = send_data
    aioice.ice.StunProtocol.datagram_received = datagram_received
    _installed = True


def _loopback_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    return ["127.0.0.1"] if use_ipv4 else []


def _guard(addr: tuple) -> bool:
    if is_loopback(str(addr[0])):
        return True
    log.error("refused to send to %s: the sandbox's media stays on loopback", addr[0])
    return False


def is_loopback(host: str) -> bool:
    return host in LOOPBACK


def candidate_address(candidate: str) -> str | None:
    """The connection address of an SDP candidate line (``candidate:... 127.0.0.1 5000 typ host``)."""
    match = _CANDIDATE.match(candidate.strip())
    return match[1] if match else None


def keep_candidate(candidate: str) -> bool:
    address = candidate_address(candidate)
    if address is None:
        return False
    try:
        return ipaddress.ip_address(address).is_loopback and is_loopback(address)
    except ValueError:
        return False  # a host name: mDNS (.local) or anything else that would need resolving


def loopback_sdp(sdp: str) -> tuple[str, list[str]]:
    """``sdp`` without candidate lines for other addresses, and the addresses dropped."""
    kept, dropped = [], []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:") and not keep_candidate(line):
            dropped.append(candidate_address(line) or line)
            continue
        kept.append(line)
    return "\r\n".join(kept) + "\r\n", dropped
