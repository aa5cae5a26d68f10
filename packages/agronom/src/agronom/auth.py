"""The signed Telegram-user header: how the bot tells the API whose request it is.

The bot has already authenticated the user (Telegram delivered the update to it). For every
request it signs *that* request, with the secret it shares with the API, and sends::

    X-Telegram-User: <tg_id>:<unix time>:<nonce>:<hex HMAC-SHA256(BOT_API_SECRET, message)>

where ``<nonce>`` is 16-64 of ``[A-Za-z0-9_-]``, fresh per request, and ``message`` is the
newline-joined canonical request::

    agronom-bot-v2
    <METHOD>                      upper case: GET, POST, …
    <path?query>                  as sent on the wire (percent-encoded), "?query" only if any
    <hex SHA-256 of the body>     of the exact body bytes (an empty body hashes b"")
    <tg_id>
    <unix time>
    <nonce>

The API accepts a header no older than ``AUTH_MAX_AGE_S`` (and not from the future beyond a
small skew), whose signature matches the request it came with under ``BOT_API_SECRET`` or,
during a rotation, ``BOT_API_SECRET_PREVIOUS`` (compared in constant time), and whose nonce it
has not seen within that window (the ``seen_nonces`` table, scope ``bot``; see
:mod:`agronom.store.nonces`): a captured header is good for that one request, once. Anything else
is ``UNAUTHORIZED``.

:func:`verify` checks everything but the nonce's single use, which needs the database and is done
by the API's dependency (:func:`agronom.api.deps.tg_user`). :class:`BotAuth` signs an httpx
request (the bot's client, the demo, tests): it reads the body first, so a multipart body is
hashed exactly as it goes on the wire.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets as _secrets
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass

import httpx

from agronom.errors import Unauthorized

HEADER = "X-Telegram-User"
NONCE_SCOPE = "bot"
VERSION = "agronom-bot-v2"
FORMAT = "<tg_id>:<unix time>:<nonce>:<hex HMAC-SHA256>"
_FORMAT = re.compile(r"^(\d{1,19}):(\d{1,12}):([A-Za-z0-9_-]{16,64}):([0-9a-f]{64})$")
_SKEW_S = 60


@dataclass(frozen=True)
class Signed:
    """What a valid header vouches for: the user, when it was signed, its single-use nonce."""

    tg_id: int
    stamp: int
    nonce: str


def message(*, tg_id: int, stamp: int, nonce: str, method: str, target: str, body: bytes) -> str:
    """The canonical request the signature covers (see the module docstring)."""
    digest = hashlib.sha256(body).hexdigest()
    return "\n".join((VERSION, method.upper(), target, digest, str(tg_id), str(stamp), nonce))


def _mac(secret: str, text: str) -> str:
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def sign(
    tg_id: int,
    *,
    secret: str,
    now: float,
    method: str,
    target: str,
    body: bytes = b"",
    nonce: str | None = None,
) -> str:
    """The header value for one request of ``tg_id`` at unix time ``now``.

    Args:
        tg_id: the Telegram user the request is for.
        secret: ``BOT_API_SECRET``.
        now: unix time of signing.
        method: the HTTP method.
        target: the path with its query (``/v1/limits``, ``/v1/x?a=1``), percent-encoded as sent.
        body: the exact body bytes.
        nonce: fresh random by default (tests pass one to replay a request on purpose).
    """
    nonce = nonce or _secrets.token_urlsafe(18)
    stamp = int(now)
    mac = _mac(
        secret,
        message(tg_id=tg_id, stamp=stamp, nonce=nonce, method=method, target=target, body=body),
    )
    return f"{tg_id}:{stamp}:{nonce}:{mac}"


def verify(
    value: str | None,
    *,
    secrets: Sequence[str],
    now: float,
    max_age_s: int,
    method: str,
    target: str,
    body: bytes,
) -> Signed:
    """What a header value vouches for, if it signs this very request with one of ``secrets``
    and is fresh; :class:`Unauthorized` otherwise. The nonce's single use is the caller's."""
    if not value:
        raise Unauthorized(f"the {HEADER} header is required (signed by the bot)")
    match = _FORMAT.match(value.strip())
    if match is None:
        raise Unauthorized(f"the {HEADER} header must be {FORMAT}")
    tg_id, stamp, nonce, signature = int(match[1]), int(match[2]), match[3], match[4]
    text = message(tg_id=tg_id, stamp=stamp, nonce=nonce, method=method, target=target, body=body)
    # Every key is tried, so the time taken does not tell which one matched.
    matched = [hmac.compare_digest(signature, _mac(key, text)) for key in secrets if key]
    if not any(matched):
        raise Unauthorized(
            f"the {HEADER} signature does not match this request (method, path, body)"
        )
    if stamp > now + _SKEW_S or now - stamp > max_age_s:
        raise Unauthorized(f"the {HEADER} header has expired: sign a fresh one")
    if tg_id <= 0 or tg_id >= 2**63:
        raise Unauthorized(f"the {HEADER} header names no valid Telegram user")
    return Signed(tg_id, stamp, nonce)


def target_of(url: httpx.URL) -> str:
    """The signed target of an httpx request: its raw path and query, as sent."""
    return url.raw_path.decode("ascii")


class BotAuth(httpx.Auth):
    """httpx authentication that signs each request for ``tg_id`` (``auth=BotAuth(...)``)."""

    requires_request_body = True  # httpx reads the body (multipart too) before the flow

    def __init__(
        self, tg_id: int, *, secret: str, wallclock: Callable[[], float] = time.time
    ) -> None:
        self.tg_id = tg_id
        self.secret = secret
        self.wallclock = wallclock

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[HEADER] = sign(
            self.tg_id,
            secret=self.secret,
            now=self.wallclock(),
            method=request.method,
            target=target_of(request.url),
            body=request.content,
        )
        yield request
