"""Single use of a signed request's nonce: the replay guard of signed callers.

A nonce is claimed once per scope (who signs: ``bot``, ``partner``) and kept until the signature
it came with would have expired anyway; a second claim inside that window fails. Expired rows
are deleted by the next claim of the same scope, a few at a time, so the table stays as small
as one window's traffic without a job of its own.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_SWEEP = 100  # expired rows removed per claim

# One statement, one round trip (every bot request makes one): a few expired rows swept, then
# the claim. The sweep never touches the nonce being claimed (one statement may not change a
# row twice); an expired row of that nonce is reused by the upsert instead, a live one not.
_CLAIM = text(
    """
    WITH swept AS (
        DELETE FROM seen_nonces WHERE scope = :scope AND nonce IN (
            SELECT nonce FROM seen_nonces
            WHERE scope = :scope AND expires_at < :now AND nonce <> :nonce
            LIMIT :sweep)
    )
    INSERT INTO seen_nonces (scope, nonce, expires_at) VALUES (:scope, :nonce, :expires_at)
    ON CONFLICT ON CONSTRAINT pk_seen_nonces DO UPDATE SET expires_at = EXCLUDED.expires_at
    WHERE seen_nonces.expires_at < :now
    RETURNING nonce
    """
)


async def claim(
    session: AsyncSession, *, scope: str, nonce: str, expires_at: datetime, now: datetime
) -> bool:
    """Whether ``nonce`` was unused in ``scope`` (and is now used); the caller commits."""
    params = {
        "scope": scope,
        "nonce": nonce,
        "expires_at": expires_at,
        "now": now,
        "sweep": _SWEEP,
    }
    claimed = await session.scalar(_CLAIM, params)
    return claimed is not None
