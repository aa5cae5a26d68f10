"""Deterministic randomness: seeded generators, stateless hashes and growth curves.

Everything the world holds is derived from the seed through two tools:

- :func:`rng` gives a ``random.Random`` for one named part of the world (a profile, a clock
  step), so parts can be generated lazily and in any order with the same result;
- :func:`mix` hashes integers to 64 bits, for attributes computed on demand and never stored
  (a follower account's name, a comment's text).
"""

from __future__ import annotations

import math
import random

MASK64 = (1 << 64) - 1

# Labels for :func:`mix`, so that two attributes of one object never share a hash.
PK_LOW = 2
NAME = 3
COMMENT_PK = 6
COMMENT_AUTHOR = 7
COMMENT_TEXT = 8
COMMENT_LIKES = 9
COMMENT_CHILDREN = 10
CAPTION = 11
THREAD_ID = 12
THREAD_REPLIES = 13
THREAD_AUTHOR = 14
THREAD_LIKES = 15
VIDEO_ID = 16


def _splitmix(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


def mix(*parts: int) -> int:
    """Hash integers (any size) to a well-spread 64-bit integer.

    Args:
        *parts: the seed first, then a label, then the object's coordinates.

    Returns:
        An integer in ``[0, 2**64)``.
    """
    x = 0x6A09E667F3BCC908
    for part in parts:
        x = _splitmix(x ^ (part & MASK64) ^ (part >> 64))
    return x


def rng(seed: int, label: str, *coordinates: int) -> random.Random:
    """A generator for one part of the world, independent of every other part.

    Args:
        seed: the world's seed.
        label: what the generator is for (``"ig-profile"``, ``"ig-step"`` ...).
        *coordinates: which one (profile index, clock step ...).

    Returns:
        A ``random.Random`` seeded from a string (hashed with SHA-512 by ``random``, so the
        result does not depend on ``PYTHONHASHSEED``).
    """
    # Reproducible draws are the point here, not secrecy.
    return random.Random("/".join([str(seed), label, *map(str, coordinates)]))  # noqa: S311


def poisson(generator: random.Random, mean: float) -> int:
    """Draw a Poisson variate (Knuth for small means, a rounded normal for large ones)."""
    if mean <= 0:
        return 0
    if mean > 60:
        return max(0, round(generator.gauss(mean, math.sqrt(mean))))
    limit = math.exp(-mean)
    count = 0
    product = generator.random()
    while product > limit:
        count += 1
        product *= generator.random()
    return count


def heavy_tailed(generator: random.Random, median: float, sigma: float, cap: int) -> int:
    """A lognormal integer in ``[0, cap]``: most values near the median, a few large."""
    return min(cap, int(generator.lognormvariate(math.log(median), sigma)))


def saturating(elapsed: float, tau: float) -> float:
    """Share of a final count reached ``elapsed`` seconds after publication (0 → 1)."""
    if elapsed <= 0:
        return 0.0
    return 1.0 - math.exp(-elapsed / tau)


YEAR_S = 365 * 86400


def long_tail(elapsed: float, tau: float) -> float:
    """Like :func:`saturating`, with a slow second phase so old content keeps growing."""
    if elapsed <= 0:
        return 0.0
    return 0.8 * (1.0 - math.exp(-elapsed / tau)) + 0.2 * (1.0 - math.exp(-elapsed / YEAR_S))


def arrival(index: int, total: int, start: int, tau: float) -> int:
    """When item ``index`` of ``total`` arrives, items arriving along :func:`saturating`.

    Items are numbered in arrival order, so arrival times never decrease with ``index``.
    """
    share = (index + 0.5) / total
    return start + math.ceil(-tau * math.log1p(-share))


def arrived(total: int, start: int, tau: float, now: int) -> int:
    """How many of ``total`` items have arrived at ``now`` (see :func:`arrival`)."""
    low, high = 0, total
    while low < high:
        middle = (low + high) // 2
        if arrival(middle, total, start, tau) <= now:
            low = middle + 1
        else:
            high = middle
    return low


_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def b64_chars(value: int, length: int) -> str:
    """``length`` characters of the URL-safe base64 alphabet taken from ``value``'s bits."""
    chars = []
    for _ in range(length):
        chars.append(_B64[value & 63])
        value >>= 6
    return "".join(chars)


def shortcode(media_pk: int) -> str:
    """Instagram's shortcode of a media pk (its base64 digits, most significant first)."""
    chars = []
    while media_pk:
        media_pk, digit = divmod(media_pk, 64)
        chars.append(_B64[digit])
    return "".join(reversed(chars))
