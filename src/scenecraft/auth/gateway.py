"""Gateway rules applied before any handler: the client's address (trusted proxies), IP allow/deny
by CIDR, and rate limits.

The client address is the TCP peer's, unless that peer is in settings.trusted_proxies: only then is
X-Forwarded-For read, right to left, skipping trusted proxies; the first address that is not one
is the client. An empty list (the default) never reads X-Forwarded-*, so a client cannot forge the
address that the login throttles, the audit trail and ip_allow/ip_deny see.

Rate limits use the `limits` library's moving-window strategy: in memory for one process, or in
Redis (settings.redis_url) so every API process shares the same counters. A generation request
costs more than a status poll: `hit(..., cost=n)` takes n units from the window.
"""

from __future__ import annotations

import ipaddress
import math
import time
from dataclasses import dataclass

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


MAX_FORWARDED_HOPS = 16  # X-Forwarded-For entries looked at, from the right


def parse_networks(cidrs: list[str], field: str) -> list[Network]:
    nets = []
    for cidr in cidrs:
        try:
            nets.append(ipaddress.ip_network(cidr, strict=False))
        except ValueError:
            raise ValueError(f"{field}: {cidr!r} is not a CIDR block such as 10.0.0.0/8 or ::1/128") from None
    return nets


def _address(host: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address((host or "").strip())
    except ValueError:
        return None


class TrustedProxies:
    """Peers allowed to say who the client is (X-Forwarded-For) and how it connected (-Proto)."""

    def __init__(self, cidrs: list[str]) -> None:
        self.nets = parse_networks(cidrs, "trusted_proxies")

    def trusts(self, host: str | None) -> bool:
        addr = _address(host)
        return addr is not None and any(addr in net for net in self.nets)

    def client(self, peer: str, forwarded_for: str | None) -> str:
        """The client's address for a request from `peer` carrying `forwarded_for` (joined headers)."""
        if not forwarded_for or not self.trusts(peer):
            return peer
        client = peer
        for hop in reversed(forwarded_for.split(",")[-MAX_FORWARDED_HOPS:]):
            addr = _address(hop)
            if addr is None:  # garbage from beyond the last trusted proxy: trust nothing further left
                return client
            client = str(addr)
            if not self.trusts(client):
                return client
        return client

    def scheme(self, peer: str, forwarded_proto: str | None, default: str) -> str:
        if not forwarded_proto or not self.trusts(peer):
            return default
        proto = forwarded_proto.split(",")[-1].strip().lower()
        return proto if proto in ("http", "https") else default


class IPFilter:
    """Deny wins over allow; an empty allow list allows everyone not denied."""

    def __init__(self, allow: list[str], deny: list[str]) -> None:
        self.allow = parse_networks(allow, "ip_allow")
        self.deny = parse_networks(deny, "ip_deny")

    def permits(self, host: str | None) -> bool:
        if not (self.allow or self.deny):
            return True
        addr = _address(host)
        if addr is None:
            return not self.allow  # unknown peer (e.g. a test client): only if nothing is required
        if any(addr in net for net in self.deny):
            return False
        return not self.allow or any(addr in net for net in self.allow)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int  # seconds until a unit frees up (0 when allowed)
    limit: str


class RateLimiter:
    def __init__(self, storage_uri: str = "memory://") -> None:
        self.storage = storage_from_string(storage_uri)
        self.strategy = MovingWindowRateLimiter(self.storage)

    def hit(self, rule: str, *identifiers: str, cost: int = 1) -> Verdict:
        item = parse(rule)
        if self.strategy.hit(item, *identifiers, cost=cost):
            return Verdict(True, 0, rule)
        stats = self.strategy.get_window_stats(item, *identifiers)
        return Verdict(False, max(1, math.ceil(stats.reset_time - time.time())), rule)

    def check(self, rule: str, *identifiers: str) -> Verdict:
        """Whether one more unit would be allowed now, taking nothing."""
        item = parse(rule)
        if self.strategy.test(item, *identifiers):
            return Verdict(True, 0, rule)
        stats = self.strategy.get_window_stats(item, *identifiers)
        return Verdict(False, max(1, math.ceil(stats.reset_time - time.time())), rule)

    @staticmethod
    def capacity(rule: str) -> int:
        """The most units `rule` allows in one window (its burst)."""
        return int(parse(rule).amount)

    def reset(self) -> None:
        self.storage.reset()

    def ping(self) -> bool:
        return bool(self.storage.check())
