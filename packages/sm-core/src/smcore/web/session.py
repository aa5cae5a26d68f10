"""The dashboard's sign-in: an API key exchanged for a signed session cookie, and CSRF tokens.

The cookie holds ``expires.key_id.mac``: when it ends, which of ``API_KEYS`` it was issued for
(a hash prefix, never the key) and an HMAC of both under that key. Nothing is stored on the
server, any number of API processes accept it, and removing a key from ``API_KEYS`` ends its
sessions. A form that changes something carries a CSRF token: an HMAC of the session cookie
under the same key, which a page on another site cannot read.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

COOKIE = "smcore_session"
LIFETIME_S = 12 * 3600


def _key_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _mac(key: str, message: str) -> str:
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()


def issue(key: str, now: float) -> str:
    """A session cookie for ``key``, valid for :data:`LIFETIME_S` from ``now``."""
    body = f"{int(now) + LIFETIME_S}.{_key_id(key)}"
    return f"{body}.{_mac(key, 'session.' + body)}"


def holder(cookie: str | None, keys: Iterable[str], now: float) -> str | None:
    """The API key a valid, unexpired ``cookie`` was issued for; None for anything else."""
    if not cookie or cookie.count(".") != 2:
        return None
    expires, key_id, mac = cookie.split(".")
    if not expires.isdigit() or int(expires) <= now:
        return None
    body = f"{expires}.{key_id}"
    for key in keys:
        if secrets.compare_digest(_key_id(key), key_id) and secrets.compare_digest(
            _mac(key, "session." + body), mac
        ):
            return key
    return None


def csrf_token(key: str, cookie: str) -> str:
    """The token the forms of the session ``cookie`` (issued for ``key``) carry."""
    return _mac(key, "csrf." + cookie)


def csrf_valid(key: str, cookie: str, token: str | None) -> bool:
    return token is not None and secrets.compare_digest(csrf_token(key, cookie), token)
