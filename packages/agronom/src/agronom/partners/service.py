"""Partner orders: AgroStore tells us about orders placed from a protocol.

AgroStore signs the raw request body with the key we share:
``X-Signature: <hex HMAC-SHA256(PARTNER_HMAC_SECRET, body)>``, compared in constant time. The
``order_id`` is AgroStore's and unique: the first notice creates the order (201), a later one
with the same ``order_id`` updates its status (200), and one that changes the protocol or the
price is refused (409). The user is the owner of the protocol's photo.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from agronom.errors import ConflictError, NotFound, Unauthorized
from agronom.store.models import OrderStatus, PartnerOrder, Photo, Protocol

HEADER = "X-Signature"


def signature(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def check_signature(body: bytes, given: str | None, secret: str) -> str:
    """The checked signature; :class:`Unauthorized` when missing or wrong."""
    if not given:
        raise Unauthorized(f"the {HEADER} header (HMAC-SHA256 of the body) is required")
    expected = signature(body, secret)
    if not hmac.compare_digest(given.strip().lower().encode(), expected.encode()):
        raise Unauthorized(f"the {HEADER} signature does not match the body")
    return expected


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
    existing.status = status
    existing.signature = signature_hex
    return Recorded(existing, False)
