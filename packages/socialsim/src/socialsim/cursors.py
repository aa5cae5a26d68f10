"""Opaque pagination cursors, bound to the API, stream and owner that issued them.

A cursor is ``urlsafe_base64(payload + mac)`` where the payload names the API (``rocket``,
``scraper``, ``youtube``), the stream (``followers``, ``media``, ``playlistItems`` …), the
owner (a profile pk, a media pk, a playlist or video id) and a position in that stream's
stable order (see :mod:`socialsim.world`). With expiry on, it also carries the wall-clock
time it was issued; otherwise cursors are a pure function of their content, so a seeded
world answers identically run after run.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from collections.abc import Callable


class CursorError(Exception):
    """A cursor that this API cannot use: malformed, forged, foreign or expired.

    Attributes:
        expired: True when the cursor was valid but is older than the TTL.
    """

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


class Cursors:
    """Issues and checks cursors.

    Args:
        seed: keys the MAC, so that cursors of another seed's server are rejected.
        ttl_s: cursors older than this many wall-clock seconds are rejected (None: never).
        wall_clock: time source for expiry (monotonic seconds).
    """

    def __init__(
        self,
        seed: int,
        ttl_s: float | None = None,
        wall_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._key = hashlib.blake2b(f"socialsim-cursor/{seed}".encode()).digest()[:32]
        self._ttl_s = ttl_s
        self._wall_clock = wall_clock

    def _mac(self, payload: bytes) -> bytes:
        return hashlib.blake2b(payload, key=self._key, digest_size=8).digest()

    def issue(self, api: str, stream: str, owner: str, position: int) -> str:
        """A cursor for "continue before ``position``" in a stream.

        Args:
            api: the issuing API.
            stream: the list being paged.
            owner: whose list it is.
            position: the stream position the next page starts before.

        Returns:
            The opaque cursor string.
        """
        issued = f"|{int(self._wall_clock() * 1000)}" if self._ttl_s is not None else ""
        payload = f"{api}|{stream}|{owner}|{position}{issued}".encode()
        return base64.urlsafe_b64encode(payload + self._mac(payload)).rstrip(b"=").decode()

    def read(self, cursor: str, api: str, stream: str, owner: str) -> int:
        """The position a cursor points at, if it was issued for exactly this list.

        Raises:
            CursorError: the cursor is malformed, was issued elsewhere, or has expired.
        """
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError) as exc:
            raise CursorError("malformed cursor") from exc
        payload, mac = raw[:-8], raw[-8:]
        if len(raw) <= 8 or mac != self._mac(payload):
            raise CursorError("unknown cursor")
        fields = payload.decode().split("|")
        if fields[:3] != [api, stream, owner]:
            raise CursorError("cursor of another list")
        position = int(fields[3])
        if self._ttl_s is not None:
            if len(fields) < 5:
                raise CursorError("cursor without issue time")
            age = self._wall_clock() - int(fields[4]) / 1000
            if age > self._ttl_s:
                raise CursorError("expired cursor", expired=True)
        return position
