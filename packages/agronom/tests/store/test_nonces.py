"""The replay guard's table: a nonce is claimed once while it lives; expired rows are swept by
later claims of the same scope, a few at a time; an expired nonce may be claimed again."""

from __future__ import annotations

from datetime import datetime, timedelta

from agronom.store import db, nonces

NOW = datetime(2026, 3, 10, 12, 0)


async def test_a_nonce_is_claimed_once_and_expired_ones_are_swept(database_url: str, sql) -> None:
    engine = db.async_engine(database_url)
    sessions = db.sessions(engine)

    async def claim(nonce: str, *, scope: str = "bot", now: datetime = NOW) -> bool:
        async with sessions.begin() as session:
            return await nonces.claim(
                session, scope=scope, nonce=nonce, expires_at=now + timedelta(minutes=5), now=now
            )

    try:
        assert await claim("n1") is True
        assert await claim("n1") is False, "a replay inside the window"
        assert await claim("n1", scope="partner") is True, "scopes are apart"
        for i in range(3):
            assert await claim(f"old{i}", now=NOW - timedelta(hours=1))
        # An hour later n1 and the old ones have expired: the next claim sweeps them, but
        # the one it claims is reused in place, and other scopes are left alone.
        later = NOW + timedelta(hours=1)
        assert await claim("old0", now=later) is True, "an expired nonce may be claimed again"
        assert sql("SELECT scope, nonce FROM seen_nonces ORDER BY scope, nonce") == [
            ("bot", "old0"),
            ("partner", "n1"),
        ]
        assert sql.one("SELECT expires_at FROM seen_nonces WHERE nonce = 'old0'") == later + (
            timedelta(minutes=5)
        )
    finally:
        await engine.dispose()
