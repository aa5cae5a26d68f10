"""What a platform's CDN link says about itself: when it stops working.

- Instagram (``scontent…cdninstagram.com``, ``…fbcdn.net``): ``oe`` is the expiry as 8 hex
  digits of Unix time, signed by ``oh``; past it the CDN answers 403 "URL signature expired".
- TikTok (``…tiktokcdn.com``, ``…byteoversea.com``): ``x-expires`` in decimal Unix seconds,
  signed by ``x-signature``.
- YouTube thumbnails (``i.ytimg.com``) carry no expiry.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

EXPIRED_MARKERS = ("url signature expired", "expired")


def link_expiry(url: str) -> datetime | None:
    """When ``url`` expires, if the link says; None for a link without an expiry (or junk)."""
    if not url:
        return None
    query = parse_qs(urlsplit(url).query)
    try:
        if oe := query.get("oe"):
            return datetime.fromtimestamp(int(oe[0], 16), UTC)
        if expires := query.get("x-expires"):
            return datetime.fromtimestamp(int(expires[0]), UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def says_expired(status: int, body: str) -> bool:
    """Whether a CDN's refusal means the link expired (then a fresh link, not a retry, helps)."""
    return status in (403, 410) and any(m in body.lower() for m in EXPIRED_MARKERS)
