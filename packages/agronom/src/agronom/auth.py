"""The signed Telegram-user header: how the bot tells the API whose request it is.

The bot has already authenticated the user (Telegram delivered the update to it); it signs
``<tg_id>:<unix time>`` with the secret it shares with the API and sends::

    X-Telegram-User: <tg_id>:<unix time>:<hex HMAC-SHA256(BOT_API_SECRET, "<tg_id>:<unix time>")>

The API accepts a header no older than ``AUTH_MAX_AGE_S`` (and not from the future beyond a
small skew), compares the signature in constant time, and answers ``UNAUTHORIZED`` otherwise.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from agronom.errors import Unauthorized

HEADER = "X-Telegram-User"
_FORMAT = re.compile(r"^(\d{1,19}):(\d{1,12}):([0-9a-f]{64})$")
_SKEW_S = 60


def _mac(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def sign(tg_id: int, *, secret: str, now: float) -> str:
    """The header value for ``tg_id`` at unix time ``now``."""
    message = f"{tg_id}:{int(now)}"
    return f"{message}:{_mac(secret, message)}"


def verify(value: str | None, *, secret: str, now: float, max_age_s: int) -> int:
    """The Telegram user id a header value vouches for; :class:`Unauthorized` otherwise."""
    if not value:
        raise Unauthorized(f"the {HEADER} header is required (signed by the bot)")
    match = _FORMAT.match(value.strip())
    if match is None:
        raise Unauthorized(f"the {HEADER} header must be <tg_id>:<unix time>:<hex signature>")
    tg_id, stamp, signature = int(match[1]), int(match[2]), match[3]
    if not hmac.compare_digest(signature, _mac(secret, f"{match[1]}:{match[2]}")):
        raise Unauthorized(f"the {HEADER} signature does not match")
    if stamp > now + _SKEW_S or now - stamp > max_age_s:
        raise Unauthorized(f"the {HEADER} header has expired: sign a fresh one")
    if tg_id <= 0 or tg_id >= 2**63:
        raise Unauthorized(f"the {HEADER} header names no valid Telegram user")
    return tg_id
