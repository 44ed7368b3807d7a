"""Gateway rules applied before any handler: IP allow/deny by CIDR and rate limits.

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


class IPFilter:
    """Deny wins over allow; an empty allow list allows everyone not denied."""

    def __init__(self, allow: list[str], deny: list[str]) -> None:
        self.allow = [self._net(c, "ip_allow") for c in allow]
        self.deny = [self._net(c, "ip_deny") for c in deny]

    @staticmethod
    def _net(cidr: str, field: str) -> Network:
        try:
            return ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise ValueError(f"{field}: {cidr!r} is not a CIDR block such as 10.0.0.0/8 or ::1/128") from None

    def permits(self, host: str | None) -> bool:
        if not (self.allow or self.deny):
            return True
        try:
            addr = ipaddress.ip_address(host or "")
        except ValueError:
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
        """Would one more hit be allowed? Counts nothing (for limits that count failures only)."""
        item = parse(rule)
        if self.strategy.test(item, *identifiers):
            return Verdict(True, 0, rule)
        stats = self.strategy.get_window_stats(item, *identifiers)
        return Verdict(False, max(1, math.ceil(stats.reset_time - time.time())), rule)

    def reset(self) -> None:
        self.storage.reset()

    def ping(self) -> bool:
        return bool(self.storage.check())
