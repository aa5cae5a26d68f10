"""Partner orders: AgroStore tells us about orders placed from a protocol.

AgroStore signs each request with the key we share, over the time, a fresh nonce and the raw
body::

    X-Timestamp: <unix seconds>
    X-Nonce: <8-64 of [A-Za-z0-9_-], unique per request>
    X-Signature: <hex HMAC-SHA256(PARTNER_HMAC_SECRET, "<timestamp>.<nonce>." + body)>

The signature is compared in constant time; a timestamp further than ``PARTNER_MAX_AGE_S``
from our clock is refused, and so is a nonce already used within that window (a replayed
request). During a key rotation ``PARTNER_HMAC_SECRET_PREVIOUS`` is accepted too.

The ``order_id`` is AgroStore's and unique: the first notice creates the order (201), a later one
with the same ``order_id`` moves its status (200) along the legal transitions
(:data:`TRANSITIONS`: new → processed → cancelled, new → cancelled; repeating the current status
changes nothing), and one that changes the protocol or the price, or moves the status backwards,
is refused (409). The user is the owner of the protocol's photo.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from agronom.errors import ConflictError, NotFound, Unauthorized
from agronom.store import nonces
from agronom.store.models import OrderStatus, PartnerOrder, Photo, Protocol

HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Timestamp"
NONCE_HEADER = "X-Nonce"
NONCE_SCOPE = "partner"
_NONCE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_STAMP = re.compile(r"^\d{1,12}$")

TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.NEW: frozenset({OrderStatus.PROCESSED, OrderStatus.CANCELLED}),
    OrderStatus.PROCESSED: frozenset({OrderStatus.CANCELLED}),
    OrderStatus.CANCELLED: frozenset(),
}


def signature(body: bytes, secret: str, *, timestamp: str, nonce: str) -> str:
    """The hex signature of a request: HMAC-SHA256 over ``<timestamp>.<nonce>.`` + body."""
    message = f"{timestamp}.{nonce}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def check_signature(
    body: bytes,
    *,
    given: str | None,
    timestamp: str | None,
    nonce: str | None,
    secrets: Sequence[str],
    now: float,
    max_age_s: int,
) -> str:
    """The checked signature; :class:`Unauthorized` when missing, wrong or stale."""
    if not given or not timestamp or not nonce:
        raise Unauthorized(
            f"the {TIMESTAMP_HEADER}, {NONCE_HEADER} and {HEADER} headers are required "
            f'(HMAC-SHA256 of "<timestamp>.<nonce>." + body)'
        )
    if not _STAMP.match(timestamp) or not _NONCE.match(nonce):
        raise Unauthorized(
            f"{TIMESTAMP_HEADER} must be unix seconds and {NONCE_HEADER} 8-64 of [A-Za-z0-9_-]"
        )
    if abs(now - int(timestamp)) > max_age_s:
        raise Unauthorized(f"the {TIMESTAMP_HEADER} is more than {max_age_s} s from our clock")
    got = given.strip().lower().encode()
    for secret in secrets:
        expected = signature(body, secret, timestamp=timestamp, nonce=nonce)
        if hmac.compare_digest(got, expected.encode()):
            return expected
    raise Unauthorized(f"the {HEADER} signature does not match the request")


async def claim_nonce(
    session: AsyncSession, nonce: str, *, timestamp: str, max_age_s: int, now: float
) -> None:
    """Use the request's nonce once (``now``: real unix time); :class:`Unauthorized` for a
    replay."""
    expires = _utc(max(int(timestamp), now) + max_age_s)
    if not await nonces.claim(
        session, scope=NONCE_SCOPE, nonce=nonce, expires_at=expires, now=_utc(now)
    ):
        raise Unauthorized(f"the {NONCE_HEADER} was used already: a replayed request")


def _utc(unix: float) -> datetime:
    return datetime.fromtimestamp(unix, UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Recorded:
    order: PartnerOrder
    created: bool


async def record(
    session: AsyncSession,
    *,
    order_id: str,
    protocol_id: int,
    price_kopeks: int,
    status: OrderStatus,
    signature_hex: str,
) -> Recorded:
    """Create or update the order; the caller owns the transaction."""
    user_id = await session.scalar(
        select(Photo.user_id)
        .join(Protocol, Protocol.photo_id == Photo.id)
        .where(Protocol.id == protocol_id)
    )
    if user_id is None:
        raise NotFound(f"no protocol {protocol_id}")
    created_id = await session.scalar(
        insert(PartnerOrder)
        .values(
            user_id=user_id,
            order_id=order_id,
            protocol_id=protocol_id,
            price_kopeks=price_kopeks,
            signature=signature_hex,
            status=status,
        )
        .on_conflict_do_nothing(index_elements=[PartnerOrder.order_id])
        .returning(PartnerOrder.id)
    )
    existing = await session.scalar(
        select(PartnerOrder).where(PartnerOrder.order_id == order_id).with_for_update()
    )
    if existing is None:  # inserted or found above; this keeps the types honest
        raise RuntimeError(f"order {order_id} vanished")
    if created_id is not None:
        return Recorded(existing, True)
    if existing.protocol_id != protocol_id or existing.price_kopeks != price_kopeks:
        raise ConflictError(
            f"order {order_id} exists with another protocol or price; order_id is unique"
        )
    if status != existing.status and status not in TRANSITIONS[existing.status]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[existing.status])) or "none"
        raise ConflictError(
            f"order {order_id} is {existing.status.value}: it cannot become {status.value} "
            f"(allowed: {allowed})"
        )
    existing.status = status
    existing.signature = signature_hex
    return Recorded(existing, False)
