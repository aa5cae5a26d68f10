"""A circuit breaker around the diagnosis model: after ``threshold`` consecutive failed calls
it opens and every call fails fast for ``cooldown_s``; then one trial call is let through
(half-open): its success closes the breaker, its failure opens it for another cool-down.

The state is per process, on purpose: it is this process's view of whether the model answers
it, costs no round trip, and a wrong view heals after one cool-down. (Rate limits, which must
hold across processes, live in PostgreSQL instead.) Time is monotonic real time, not the
business clock: a cool-down is about the model, not about quotas.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from enum import StrEnum


class State(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpen(Exception):
    """The breaker refuses the call; ``retry_after_s``: when the next trial may go."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"the model's circuit breaker is open for {retry_after_s:.1f} s more")
        self.retry_after_s = retry_after_s


class CircuitBreaker:
    def __init__(
        self,
        *,
        threshold: int,
        cooldown_s: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.monotonic = monotonic
        self.state = State.CLOSED
        self.failures = 0  # consecutive
        self.opened_at = 0.0
        self._trial_in_flight = False

    def retry_after_s(self) -> int:
        """Whole seconds until a call may go again (0 when one may go now)."""
        if self.state is not State.OPEN:
            return 0
        left = self.opened_at + self.cooldown_s - self.monotonic()
        return max(0, math.ceil(left))

    def before_call(self) -> None:
        """Let a call go, or raise :class:`CircuitOpen`."""
        if self.state is State.OPEN:
            left = self.opened_at + self.cooldown_s - self.monotonic()
            if left > 0:
                raise CircuitOpen(left)
            self.state = State.HALF_OPEN
            self._trial_in_flight = False
        if self.state is State.HALF_OPEN:
            if self._trial_in_flight:  # one trial at a time; the others still fail fast
                raise CircuitOpen(self.cooldown_s)
            self._trial_in_flight = True

    def succeeded(self) -> None:
        """The model answered (a refusal counts too: the endpoint is up)."""
        self.state = State.CLOSED
        self.failures = 0
        self._trial_in_flight = False

    def failed(self) -> None:
        """The call timed out, or the model answered 429/5xx or garbage."""
        self.failures += 1
        self._trial_in_flight = False
        if self.state is State.HALF_OPEN or self.failures >= self.threshold:
            self.state = State.OPEN
            self.opened_at = self.monotonic()
