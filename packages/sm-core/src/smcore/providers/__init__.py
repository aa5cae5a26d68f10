"""Third-party API clients: our Insteon.

Instagram through two API providers (``rocket``: RocketAPI; ``scraper``: a RapidAPI
scraper) with failover by priority, YouTube through the Data API v3, TikTok through ``tikapi23``
and ``tikwm`` (RapidAPI) with failover by priority and, where granted, TikTok's Research API
(``research``). Each method returns a :class:`~smcore.providers.models.Page`: ``success``,
``items``, ``end_cursor``, ``has_more``, ``api_provider``, ``error``. Build one
:class:`Providers` per process, at the entrypoint::

    async with Providers.from_settings(settings, limiter=limiter) as providers:
        page = await providers.instagram.followers(user_id="123")
        async for page in paginate(providers.instagram.followers, user_id="123"):
            ...
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from types import MappingProxyType, TracebackType
from typing import Any, Self

import httpx

from smcore.providers import instagram, tiktok, youtube
from smcore.providers.errors import ErrorKind, ProviderConfigError, ProviderError
from smcore.providers.instagram import METHODS as INSTAGRAM_METHODS
from smcore.providers.instagram import Instagram
from smcore.providers.models import Page
from smcore.providers.ratelimit import Limit
from smcore.providers.rocket import RocketApi
from smcore.providers.scraper import ScraperApi
from smcore.providers.tikapi23 import TikApi23
from smcore.providers.tiktok import METHODS as TIKTOK_METHODS
from smcore.providers.tiktok import TikTok
from smcore.providers.tiktok_research import ResearchApi
from smcore.providers.tikwm import TikWm
from smcore.providers.transport import RateLimiter, RetryPolicy, Transport
from smcore.providers.youtube import YouTube, YouTubeApi
from smcore.settings import Settings

__all__ = [
    "PARSER_VERSIONS",
    "ErrorKind",
    "Page",
    "ProviderConfigError",
    "ProviderError",
    "Providers",
    "base_url",
    "paginate",
    "rate_limits",
    "tiktok_priority",
]

TIKTOK_PROVIDERS = ("tikapi23", "tikwm", "research")

PARSER_VERSIONS: Mapping[str, int] = MappingProxyType(
    {
        "instagram": instagram.PARSER_VERSION,
        "youtube": youtube.PARSER_VERSION,
        "tiktok": tiktok.PARSER_VERSION,
    }
)
"""Per platform, the version of its parsers (each platform's module holds its own, bumped by
the change that alters a parse). Every normalized row (profile, post, comment) records its
platform's version in ``parser_version``; ``sm-core reprocess`` rebuilds the rows of older
versions from the raw layer."""


def base_url(host: str) -> str:
    """A configured host as a base URL: it may carry a scheme and port; https when it has none."""
    host = host.strip().rstrip("/")
    return host if "://" in host else f"https://{host}"


def _methods(value: str, known: tuple[str, ...], key: str) -> frozenset[str]:
    if not value.strip():
        return frozenset(known)
    methods = frozenset(m.strip() for m in value.split(",") if m.strip())
    unknown = methods - set(known)
    if unknown:
        raise ProviderConfigError(f"{key}: unknown methods {sorted(unknown)}; known: {list(known)}")
    return methods


def instagram_priority(settings: Settings) -> list[str]:
    """Instagram's providers in the order they are tried (``INSTAGRAM_PROVIDER_PRIORITY``)."""
    return [p.strip() for p in settings.instagram_provider_priority.split(",") if p.strip()]


def tiktok_priority(settings: Settings) -> list[str]:
    """TikTok's providers in the order they are tried (``TIKTOK_PROVIDER_PRIORITY``)."""
    return [p.strip() for p in settings.tiktok_provider_priority.split(",") if p.strip()]


def daily_quotas(settings: Settings) -> dict[str, int]:
    """The configured daily quotas, per provider (calls or units a day; unset ones left out)."""
    quotas = {
        "rocket": settings.rocket_daily_quota,
        "scraper": settings.scraper_daily_quota,
        "youtube": settings.youtube_daily_quota,
        "tikapi23": settings.tikapi23_daily_quota,
        "tikwm": settings.tikwm_daily_quota,
        "research": settings.tiktok_research_daily_requests,
    }
    return {name: q for name, q in quotas.items() if q}


def rate_limits(settings: Settings) -> dict[str, Limit]:
    """The configured shared limits, per provider."""
    limits = {}
    for name, rps in (
        ("rocket", settings.rocket_rate_limit_rps),
        ("scraper", settings.scraper_rate_limit_rps),
        ("youtube", settings.youtube_rate_limit_rps),
        ("tikapi23", settings.tikapi23_rate_limit_rps),
        ("tikwm", settings.tikwm_rate_limit_rps),
        ("research", settings.tiktok_research_rate_limit_rps),
    ):
        if rps is not None:
            # Burst: a quarter second's worth. Providers meter short windows, so a second's
            # worth sent at once (many accounts starting together) would meet 429s.
            limits[name] = Limit(rps=rps, burst=max(1, int(rps / 4)))
    return limits


def _tiktok(settings: Settings, transport: Callable[[str], Transport]) -> TikTok:
    """TikTok's providers in ``TIKTOK_PROVIDER_PRIORITY`` order; one without a host is left out
    (the Research API also without its client key)."""
    priority = tiktok_priority(settings)
    unknown = set(priority) - set(TIKTOK_PROVIDERS)
    if unknown:
        raise ProviderConfigError(
            f"TIKTOK_PROVIDER_PRIORITY: unknown providers {sorted(unknown)}; "
            f"known: {list(TIKTOK_PROVIDERS)}"
        )
    apis: dict[str, Any] = {}
    if settings.tikapi23_api_host:
        apis["tikapi23"] = TikApi23(
            transport("tikapi23"),
            base_url=base_url(settings.tikapi23_api_host),
            api_key=settings.tikapi23_api_key.get_secret_value(),
        )
    if settings.tikwm_api_host:
        apis["tikwm"] = TikWm(
            transport("tikwm"),
            base_url=base_url(settings.tikwm_api_host),
            api_key=settings.tikwm_api_key.get_secret_value(),
        )
    if "research" in priority and settings.tiktok_research_api_host:
        apis["research"] = ResearchApi(
            transport("research"),
            base_url=base_url(settings.tiktok_research_api_host),
            client_key=settings.tiktok_research_client_key,
            client_secret=settings.tiktok_research_client_secret.get_secret_value(),
            daily_requests=settings.tiktok_research_daily_requests,
            daily_records=settings.tiktok_research_daily_records,
        )
    available = {
        "tikapi23": _methods(
            settings.tikapi23_available_methods, TIKTOK_METHODS, "TIKAPI23_AVAILABLE_METHODS"
        ),
        "tikwm": _methods(
            settings.tikwm_available_methods, TIKTOK_METHODS, "TIKWM_AVAILABLE_METHODS"
        ),
    }
    return TikTok([apis[p] for p in priority if p in apis], available)


class Providers:
    """Every provider, on one pooled HTTP client."""

    def __init__(
        self, client: httpx.AsyncClient, instagram: Instagram, youtube: YouTube, tiktok: TikTok
    ) -> None:
        self.client = client
        self.instagram = instagram
        self.youtube = youtube
        self.tiktok = tiktok

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        limiter: RateLimiter | None = None,
        client: httpx.AsyncClient | None = None,
        policy: RetryPolicy | None = None,
    ) -> Self:
        """Configured providers only: one without a host is left out (and said so on use)."""
        client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(
                settings.provider_read_timeout_s, connect=settings.provider_connect_timeout_s
            ),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=50),
            headers={"User-Agent": "sm-core"},
        )
        policy = policy or RetryPolicy(max_attempts=settings.provider_max_attempts)

        def transport(name: str) -> Transport:
            return Transport(name, client, policy=policy, limiter=limiter)

        apis: dict[str, Any] = {}
        if settings.rocket_api_host:
            apis["rocket"] = RocketApi(
                transport("rocket"),
                base_url=base_url(settings.rocket_api_host),
                api_key=settings.rocket_api_key.get_secret_value(),
            )
        if settings.rapid_scraper_api_host:
            apis["scraper"] = ScraperApi(
                transport("scraper"),
                base_url=base_url(settings.rapid_scraper_api_host),
                api_key=settings.rapid_api_key.get_secret_value(),
            )
        priority = instagram_priority(settings)
        unknown = set(priority) - {"rocket", "scraper"}
        if unknown:
            raise ProviderConfigError(
                f"INSTAGRAM_PROVIDER_PRIORITY: unknown providers {sorted(unknown)}"
            )
        available = {
            "rocket": _methods(
                settings.rocket_available_methods, INSTAGRAM_METHODS, "ROCKET_AVAILABLE_METHODS"
            ),
            "scraper": _methods(
                settings.scraper_available_methods, INSTAGRAM_METHODS, "SCRAPER_AVAILABLE_METHODS"
            ),
        }
        ig = Instagram([apis[p] for p in priority if p in apis], available)
        yt_apis = []
        if settings.youtube_api_host:
            yt_apis.append(
                YouTubeApi(
                    transport("youtube"),
                    base_url=base_url(settings.youtube_api_host),
                    api_key=settings.youtube_api_key.get_secret_value(),
                )
            )
        return cls(client, ig, YouTube(yt_apis), _tiktok(settings, transport))

    async def aclose(self) -> None:
        await self.client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


async def paginate(
    call: Callable[..., Awaitable[Page[Any]]], **kwargs: Any
) -> AsyncIterator[Page[Any]]:
    """Follow a listing page by page, each cursor back to the provider that issued it.

    Stops after the last page or after a failed one (yielded, with ``error`` set).
    """
    cursor: str | None = None
    provider: str | None = None
    while True:
        page = await call(**kwargs, end_cursor=cursor, last_provider_name=provider)
        yield page
        if not page.success or not page.has_more or page.end_cursor is None:
            return
        cursor, provider = page.end_cursor, page.api_provider
