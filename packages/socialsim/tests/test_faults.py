"""Fault building blocks on their own: the token bucket, Retry-After, quota, fault draws."""

from __future__ import annotations

from collections import Counter

from socialsim.faults import FaultConfig, FaultPlan, Quota, TokenBucket, retry_after
from socialsim.world.clock import SIM_START


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_bucket_allows_a_quarter_second_burst_then_refills_at_its_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(16, wall_clock=clock)
    assert [bucket.take() for _ in range(4)] == [None] * 4
    wait = bucket.take()
    assert wait is not None and 0 < wait <= 1 / 16
    assert retry_after(wait) == 0, "sub-second waits announce Retry-After: 0"
    clock.now += 1 / 16
    assert bucket.take() is None
    assert bucket.take() is not None


def test_slow_buckets_ask_for_whole_seconds() -> None:
    clock = FakeClock()
    bucket = TokenBucket(0.4, wall_clock=clock)
    assert bucket.take() is None
    wait = bucket.take()
    assert wait is not None and retry_after(wait) == 2


def test_the_quota_resets_at_pacific_midnight() -> None:
    quota = Quota(2)
    assert quota.charge(SIM_START) and quota.charge(SIM_START + 3600)
    assert not quota.charge(SIM_START + 7 * 3600), "16:00 to 23:00 PST is one day"
    assert quota.charge(SIM_START + 8 * 3600), "00:00 PST is a new day"


def test_fault_draws_follow_the_rate_and_the_seed() -> None:
    config = FaultConfig(fault_rate=0.3, truncate_rate=0.5)
    plan = FaultPlan(4, config)
    draws = [plan.transport_fault() for _ in range(4000)]
    kinds = Counter(d for d in draws if d is not None)
    assert 0.25 < sum(kinds.values()) / 4000 < 0.35
    assert set(kinds) == {"5xx", "timeout", "drop", "malformed"}
    again = FaultPlan(4, config)
    assert [again.transport_fault() for _ in range(4000)] == draws
    other = FaultPlan(5, config)
    assert [other.transport_fault() for _ in range(4000)] != draws


def test_latency_has_the_configured_mean() -> None:
    plan = FaultPlan(1, FaultConfig(latency_ms=40))
    delays = [plan.latency_s() for _ in range(5000)]
    assert 0.036 < sum(delays) / len(delays) < 0.044
    assert FaultPlan(1, FaultConfig()).latency_s() == 0
