"""Web origins and the patterns a client may register.

An origin is compared as a whole (scheme, host and port), never by substring: the deployment
guide's ``origin.includes('localhost')`` rule let ``https://evil-localhost.com`` in.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
# One DNS label: letters, digits and inner hyphens (IDNs must arrive in their punycode form).
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOST = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_ORIGIN = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<host>\[[0-9a-f:.]+\]|[^/:?#@\s\[\]]+)(:(?P<port>\d{1,5}))?$")


@dataclass(frozen=True, slots=True)
class Origin:
    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        if self.port == _DEFAULT_PORTS[self.scheme]:
            return f"{self.scheme}://{self.host}"
        return f"{self.scheme}://{self.host}:{self.port}"


def parse_origin(text: str) -> Origin:
    """Parse a serialised origin as a browser sends it in the ``Origin`` header.

    Raises ``ValueError`` with a human reason for anything else: paths, credentials, wildcards,
    ``null``, upper case, default ports spelt out, or schemes other than http and https.
    """
    if text == "null":
        raise ValueError("the opaque origin 'null' is never allowed")
    match = _ORIGIN.fullmatch(text)
    if not match:
        raise ValueError("an origin is scheme://host[:port] with no path, query or credentials")
    scheme, host, port_text = match["scheme"], match["host"], match["port"]
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(f"scheme '{scheme}' is not http or https")
    if host.startswith("["):
        _check_ipv6(host)
    elif not (_HOST.fullmatch(host) or _IPV4.fullmatch(host)):
        raise ValueError(f"'{host}' is not a lower-case host name")
    port = int(port_text) if port_text else _DEFAULT_PORTS[scheme]
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is out of range")
    if port_text and port == _DEFAULT_PORTS[scheme]:
        # Browsers never send a default port, so a registry entry spelling it out is a typo.
        raise ValueError(f"port {port} is the default for {scheme}; leave it out")
    return Origin(scheme, host, port)


def _check_ipv6(host: str) -> None:
    # Browsers serialise an IPv6 host in its shortest form (RFC 5952), so any other spelling is a typo.
    try:
        address = ipaddress.IPv6Address(host[1:-1])
    except ValueError:
        raise ValueError(f"'{host}' is not an IPv6 address") from None
    if f"[{address.compressed}]" != host:
        raise ValueError(f"'{host}' is not an IPv6 address in its shortest form, [{address.compressed}]")


def _is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine to every browser: 127.0.0.0/8, [::1], localhost or a
    name under .localhost (which browsers resolve to loopback themselves)."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    if _IPV4.fullmatch(host):
        return host.split(".")[0] == "127"
    return host == "[::1]"


def is_http_url(value: object) -> bool:
    """Whether ``value`` is an absolute http(s) URL: a string with that scheme and a host part.

    What the builder's site URLs and the proxy's upstream URLs must be; a path or query may follow.
    """
    if not isinstance(value, str):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:  # an unclosed IPv6 bracket, say
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


@dataclass(frozen=True, slots=True)
class OriginPattern:
    """An exact origin, or ``scheme://*.domain[:port]`` for any subdomain of ``domain``."""

    scheme: str
    host: str
    port: int
    wildcard: bool

    @classmethod
    def parse(cls, text: str) -> OriginPattern:
        wildcard = "://*." in text
        origin = parse_origin(text.replace("://*.", "://", 1) if wildcard else text)
        if wildcard and "." not in origin.host:
            raise ValueError("a wildcard needs a domain with at least two labels, as in *.example.com")
        return cls(origin.scheme, origin.host, origin.port, wildcard)

    @property
    def secure_context(self) -> bool:
        """Whether a page on every origin this matches is a secure context, where browsers offer the
        microphone: https, or plain http on loopback (a wildcard only under .localhost)."""
        if self.scheme == "https":
            return True
        if self.wildcard:
            return self.host == "localhost" or self.host.endswith(".localhost")
        return _is_loopback(self.host)

    def matches(self, origin: Origin) -> bool:
        if (origin.scheme, origin.port) != (self.scheme, self.port):
            return False
        if self.wildcard:
            # A subdomain only: the label boundary matters, so "evilclient.example" never
            # matches "*.client.example", and the bare domain must be listed on its own.
            return origin.host.endswith("." + self.host)
        return origin.host == self.host

    def __str__(self) -> str:
        host = f"*.{self.host}" if self.wildcard else self.host
        return str(Origin(self.scheme, host, self.port))
