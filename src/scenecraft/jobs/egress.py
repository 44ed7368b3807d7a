"""Where the platform may send requests of its own (webhooks): public addresses only.

A webhook URL is given by a user, and the worker POSTs to it from inside the deployment, so an
unchecked URL is a blind SSRF: `http://169.254.169.254/` (cloud metadata), `http://127.0.0.1:5432/`,
the cluster's private services. `EgressGuard.resolve` resolves the host and refuses the target
when *any* of its addresses is loopback, private, link-local, multicast, reserved, unspecified or
otherwise not globally routable, unless it lies in settings.webhook_allow_private.

It is checked twice: when the job is submitted (a clear 422), and again right before each POST,
because DNS can change in between (rebinding: public at submit, 127.0.0.1 at send). The POST then
connects to the address that was just checked (`Target.pinned_url`, with the original Host header
and TLS server name), so a second lookup inside the HTTP client cannot swap it.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from scenecraft.auth.gateway import parse_networks

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]


class TargetRefused(ValueError):
    """The URL may not be called; the message says why and how to allow it."""


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def _unmapped(addr: Address) -> Address:
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return addr


def _why_internal(addr: Address) -> str | None:
    for attribute, name in (
        ("is_unspecified", "unspecified"),
        ("is_loopback", "loopback"),
        ("is_link_local", "link-local"),
        ("is_multicast", "multicast"),
        ("is_reserved", "reserved"),
        ("is_private", "private"),  # last: Python counts several of the above as private too
    ):
        if getattr(addr, attribute):
            return name
    return None if addr.is_global else "not globally routable"


@dataclass(frozen=True)
class Target:
    url: str
    host: str
    address: str  # the checked address the request must connect to

    @property
    def pinned_url(self) -> str:
        parts = urlsplit(self.url)
        host = f"[{self.address}]" if ":" in self.address else self.address
        netloc = host if parts.port is None else f"{host}:{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))

    @property
    def host_header(self) -> str:
        parts = urlsplit(self.url)
        return parts.netloc.rpartition("@")[2]


class EgressGuard:
    def __init__(self, allow_private: list[str], resolver: Resolver = system_resolver) -> None:
        self.allow = parse_networks(allow_private, "webhook_allow_private")
        self.resolver = resolver

    def resolve(self, url: str) -> Target:
        """The target of `url` with one checked address, or TargetRefused."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TargetRefused(f"webhook_url must be an http(s) URL with a host, got {url[:100]!r}")
        if parts.username or parts.password:
            raise TargetRefused("webhook_url must not carry a user name or password")
        host = parts.hostname
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                addresses = [ipaddress.ip_address(a.split("%")[0]) for a in self.resolver(host, port)]
            except (OSError, UnicodeError) as exc:
                raise TargetRefused(f"webhook_url host {host!r} does not resolve ({exc})") from None
        if not addresses:
            raise TargetRefused(f"webhook_url host {host!r} does not resolve")
        for addr in addresses:
            plain = _unmapped(addr)
            why = _why_internal(plain)
            if why is not None and not any(plain in net for net in self.allow):
                raise TargetRefused(
                    f"webhook_url host {host!r} resolves to {plain}, a {why} address; webhooks go to "
                    f"public addresses only (an operator can allow a range with webhook_allow_private)"
                )
        return Target(url=url, host=host, address=str(_unmapped(addresses[0])))
