"""Rate limiter: moving window in memory, shared through Redis between processes."""

from __future__ import annotations

import uuid

import pytest

from scenecraft.auth.gateway import IPFilter, RateLimiter


def test_memory_window_refuses_over_the_limit_with_retry_after() -> None:
    limiter = RateLimiter()
    verdicts = [limiter.hit("3/minute", "ip", "10.0.0.1") for _ in range(4)]
    assert [v.allowed for v in verdicts] == [True, True, True, False]
    assert 1 <= verdicts[-1].retry_after <= 60
    assert limiter.hit("3/minute", "ip", "10.0.0.2").allowed  # per identifier


def test_cost_weights_a_hit() -> None:
    limiter = RateLimiter()
    assert limiter.hit("10/minute", "gen", "u1", cost=7).allowed
    assert not limiter.hit("10/minute", "gen", "u1", cost=4).allowed  # 7 + 4 > 10
    assert limiter.hit("10/minute", "gen", "u1", cost=3).allowed  # 7 + 3 = 10


def test_redis_counters_are_shared_between_limiters() -> None:
    user = uuid.uuid4().hex  # a fresh key: runs never see each other's counts
    a, b = RateLimiter("redis://127.0.0.1:6379/0"), RateLimiter("redis://127.0.0.1:6379/0")
    assert a.ping()
    assert a.hit("2/minute", "user", user).allowed
    assert b.hit("2/minute", "user", user).allowed
    refused = a.hit("2/minute", "user", user)
    assert not refused.allowed and refused.retry_after >= 1


def test_ip_filter_rules() -> None:
    f = IPFilter(allow=["10.0.0.0/8", "::1/128"], deny=["10.9.0.0/16"])
    assert f.permits("10.1.1.1") and f.permits("::1")
    assert not f.permits("10.9.0.5") and not f.permits("8.8.8.8") and not f.permits("not-an-ip")
    assert IPFilter([], []).permits("anything")
    with pytest.raises(ValueError, match=r"ip_allow: '10\.0\.0\.0/33' is not a CIDR block"):
        IPFilter(["10.0.0.0/33"], [])
