"""Request counters, for tests and benchmarks to see what clients did."""

from __future__ import annotations

import hashlib
from collections import defaultdict

from socialsim.faults import FAULT_KINDS, FaultKind


class Stats:
    """Counts API requests by endpoint and status, faults by kind, and repeated successes.

    ``repeated_ok`` counts successful (2xx, not fault-injected) answers to a request identical
    (API, endpoint, parameters without the key) to one already answered successfully.

    Media downloads from the CDN are counted apart (``cdn``: platform → status → count), in
    neither ``total`` nor ``by_endpoint``.
    """

    total: int
    by_endpoint: defaultdict[str, defaultdict[str, int]]
    faults: dict[FaultKind, int]
    repeated_ok: int
    cdn_requests: defaultdict[str, defaultdict[str, int]]

    def __init__(self) -> None:
        self._answered: set[bytes] = set()
        self.reset()

    def reset(self) -> None:
        """Zero every counter and forget the requests answered so far."""
        self.total = 0
        self.by_endpoint = defaultdict(lambda: defaultdict(int))
        self.faults = dict.fromkeys(FAULT_KINDS, 0)
        self.repeated_ok = 0
        self.cdn_requests = defaultdict(lambda: defaultdict(int))
        self._answered.clear()

    def record(self, endpoint: str, status: str) -> None:
        """Count one API request and the status it got (``"200"``, ``"429"``, ``"drop"``)."""
        self.total += 1
        self.by_endpoint[endpoint][status] += 1

    def cdn(self, platform: str, status: str) -> None:
        """Count one CDN request and its status."""
        self.cdn_requests[platform][status] += 1

    def fault(self, kind: FaultKind, count: int = 1) -> None:
        """Count injected faults (one by default; a page may hold several bad items)."""
        self.faults[kind] += count

    def answered(self, request_key: bytes) -> None:
        """Note a successful answer to a request (its canonical form)."""
        digest = hashlib.blake2b(request_key, digest_size=16).digest()
        if digest in self._answered:
            self.repeated_ok += 1
        else:
            self._answered.add(digest)

    def snapshot(self) -> dict[str, object]:
        """The counters as JSON-ready data."""
        return {
            "total": self.total,
            "by_endpoint": {name: dict(codes) for name, codes in self.by_endpoint.items()},
            "faults": dict(self.faults),
            "repeated_ok": self.repeated_ok,
            "cdn": {name: dict(codes) for name, codes in self.cdn_requests.items()},
        }
