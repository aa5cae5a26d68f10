"""The stream registry: what each platform syncs, in which order, for which scope.

A stream is one listing a sync walks (a profile, its followers, its posts, per post its
comments). Each platform module (``smcore.sync.instagram``, ``.youtube``, ``.tiktok``) declares
its streams here, once; the workflow's plan, the CLI's and the API's scopes derive from it.

Adding a stream means: the provider method (``smcore.providers``), the stream in its platform
module, its rows (``smcore.store.rows``) and, for a new table, a migration.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from smcore.sync.errors import InvalidJobError
from smcore.sync.models import Platform, Scope, StreamOutcome

if TYPE_CHECKING:
    from smcore.sync.engine import Engine, Job, Progress


@dataclass(frozen=True)
class Run:
    """One stream's run: the engine, the job, where to report progress."""

    engine: Engine
    job: Job
    progress: Progress


@dataclass(frozen=True)
class Sizes:
    """What the store knows of an account's size: what a stream's cost is estimated from."""

    followers: int = 0
    follows: int = 0
    posts: int = 0
    private: bool = False
    window_posts: int = 0  # stored posts inside the refresh window


def one_call(sizes: Sizes, per_page: float) -> float:
    return 1.0


def pages(count: int, per_page: float) -> float:
    """Calls to read ``count`` items at ``per_page`` a call (a list always costs one)."""
    return max(1.0, -(-count // max(1.0, per_page)))


@dataclass(frozen=True)
class Stream:
    """A stream of a platform.

    Attributes:
        name: its name in the ledger (``service_calls.stream``) and the plan.
        run: pages it from the ledger's resume point to its end.
        scopes: the scopes that include it (``all`` includes every stream).
        refresh: how a later sync treats what an earlier one stored (for docs and status).
        after: the streams it needs stored first.
        per_page: items a call returns (the fleet plan's default until the ledger knows).
        cost: provider calls one steady-state sync of this stream makes for an account of
            these sizes (``smcore.fleet.plan``); a backfill costs nothing once done.
    """

    name: str
    run: Callable[[Run], Awaitable[StreamOutcome]]
    scopes: frozenset[Scope]
    refresh: str
    after: tuple[str, ...] = field(default=())
    per_page: int = 50
    cost: Callable[[Sizes, float], float] = one_call

    def covers(self, scope: Scope) -> bool:
        return scope is Scope.ALL or scope in self.scopes


_REGISTRY: dict[Platform, tuple[Stream, ...]] = {}


def register(platform: Platform, streams: tuple[Stream, ...]) -> None:
    """Declare a platform's streams, the profile's first, in the order a sync runs them."""
    _REGISTRY[platform] = streams


def streams_of(platform: Platform) -> tuple[Stream, ...]:
    _load()
    return _REGISTRY[platform]


def scopes_of(platform: Platform) -> list[Scope]:
    """The scopes a platform's public data allows."""
    found = {scope for s in streams_of(platform) for scope in s.scopes}
    return [s for s in Scope if s is Scope.ALL or s in found]


def plan(platform: Platform | str, scope: Scope | str) -> tuple[str, ...]:
    """The streams a sync of ``scope`` runs, in order.

    Raises:
        InvalidJobError: an unknown platform, or a scope the platform lacks.
    """
    try:
        platform = Platform(platform)
    except ValueError:
        known = ", ".join(Platform)
        raise InvalidJobError(f"unknown platform {platform!r} (known: {known})") from None
    allowed = scopes_of(platform)
    if str(scope) not in allowed:
        known = ", ".join(allowed)
        raise InvalidJobError(
            f"{platform} has no scope {str(scope)!r} (public data allows: {known})"
        )
    wanted = Scope(scope)
    streams = streams_of(platform)
    return (streams[0].name, *(s.name for s in streams[1:] if s.covers(wanted)))


# What the Transform stage works on (``smcore.transform``): posts (their captions and media) and
# comments. A sync that ran none of their streams (a profile, its followers) leaves it nothing.
TRANSFORMED = frozenset({Scope.POSTS, Scope.COMMENTS})


def feeds_transform(platform: Platform | str, names: Iterable[str]) -> bool:
    """Whether a sync that ran these streams stored anything the Transform stage works on."""
    return any(stream(Platform(platform), name).scopes & TRANSFORMED for name in names)


def stream(platform: Platform, name: str) -> Stream:
    for s in streams_of(platform):
        if s.name == name:
            return s
    raise InvalidJobError(f"{platform} has no stream {name!r}")


def _load() -> None:
    # The platform modules register themselves on import.
    from smcore.sync import instagram, tiktok, youtube  # noqa: F401, PLC0415 - registration on import
