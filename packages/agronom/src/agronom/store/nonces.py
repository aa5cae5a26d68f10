"""Single use of a signed request's nonce: the replay guard of signed callers.

A nonce is claimed once per scope (who signs: ``bot``, ``partner``) and kept until the signature
it came with would have expired anyway; a second claim inside that window fails. Expired rows
are deleted by the next claim of the same scope, a few at a time, so the table stays as small
as one window's traffic without a job of its own.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from agronom.store.models import SeenNonce

_SWEEP = 100  # expired rows removed per claim


async def claim(
    session: AsyncSession, *, scope: str, nonce: str, expires_at: datetime, now: datetime
) -> bool:
    """Whether ``nonce`` was unused in ``scope`` (and is now used); the caller commits."""
    expired = (
        select(SeenNonce.nonce)
        .where(SeenNonce.scope == scope, SeenNonce.expires_at < now)
        .limit(_SWEEP)
        .scalar_subquery()
    )
    await session.execute(
        delete(SeenNonce).where(SeenNonce.scope == scope, SeenNonce.nonce.in_(expired))
    )
    claimed = await session.scalar(
        insert(SeenNonce)
        .values(scope=scope, nonce=nonce, expires_at=expires_at)
        .on_conflict_do_update(
            # An expired row left by the sweep's limit may be reused; a live one may not.
            constraint="pk_seen_nonces",
            set_={"expires_at": expires_at},
            where=SeenNonce.expires_at < now,
        )
        .returning(SeenNonce.nonce)
    )
    return claimed is not None
