"""Instagram: payload parsers shared by its API providers, and the failover facade.

RocketAPI and the RapidAPI scraper both hand back Instagram's own payloads (web profile,
private-API users, media, comments); only the envelopes, paths and cursor names differ, which
their adapters (``rocket``, ``scraper``) own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

from smcore.providers.failover import call_with_failover
from smcore.providers.models import (
    Account,
    Comment,
    Highlight,
    Media,
    Page,
    Post,
    Profile,
)
from smcore.providers.payload import (
    PageParts,
    bad,
    build,
    count,
    each,
    ext_id,
    items_of,
    obj,
    opt_text,
    text,
    unix_time,
)

InstagramMethod = Literal[
    "user_info",
    "followers",
    "followings",
    "user_posts",
    "post_comments",
    "user_reels",
    "user_highlights",
    "user_stories",
    "highlight_stories",
    "post_likers",
    "comment_replies",
]
METHODS: tuple[InstagramMethod, ...] = (
    "user_info",
    "followers",
    "followings",
    "user_posts",
    "post_comments",
    "user_reels",
    "user_highlights",
    "user_stories",
    "highlight_stories",
    "post_likers",
    "comment_replies",
)

PARSER_VERSION = 1
"""The version of Instagram's parsers (this module's, and the envelopes of ``rocket`` and
``scraper``). Bump it in the change that alters what a parser makes of a payload: rows record
the version that normalized them, and ``sm-core reprocess`` rebuilds the older ones."""


# --------------------------------------------------------------------------- Instagram shapes
def parse_web_user(raw: dict[str, Any]) -> Profile:
    """The web-profile shape (``edge_followed_by.count`` …)."""
    return build(
        Profile,
        "user",
        ext_id=ext_id(raw.get("id"), "user"),
        username=text(raw.get("username"), "user.username"),
        full_name=opt_text(raw.get("full_name"), "user.full_name") or "",
        biography=opt_text(raw.get("biography"), "user.biography") or "",
        avatar_url=opt_text(
            raw.get("profile_pic_url_hd") or raw.get("profile_pic_url"), "user.profile_pic_url"
        ),
        external_url=opt_text(raw.get("external_url"), "user.external_url"),
        is_private=bool(raw.get("is_private")),
        is_verified=bool(raw.get("is_verified")),
        followers_count=count(raw.get("edge_followed_by")),
        follows_count=count(raw.get("edge_follow")),
        posts_count=count(raw.get("edge_owner_to_timeline_media")),
        raw=raw,
    )


def parse_api_user(raw: dict[str, Any]) -> Profile:
    """The private-API user shape (``follower_count`` …)."""
    return build(
        Profile,
        "user",
        ext_id=ext_id(raw.get("pk_id") or raw.get("pk") or raw.get("id"), "user"),
        username=text(raw.get("username"), "user.username"),
        full_name=opt_text(raw.get("full_name"), "user.full_name") or "",
        biography=opt_text(raw.get("biography"), "user.biography") or "",
        avatar_url=opt_text(raw.get("profile_pic_url"), "user.profile_pic_url"),
        external_url=opt_text(raw.get("external_url"), "user.external_url"),
        is_private=bool(raw.get("is_private")),
        is_verified=bool(raw.get("is_verified")),
        followers_count=count(raw.get("follower_count")),
        follows_count=count(raw.get("following_count")),
        posts_count=count(raw.get("media_count")),
        raw=raw,
    )


def parse_short_user(raw: dict[str, Any]) -> Account:
    return build(
        Account,
        "user",
        # pk_id is the exact string where present; pk may have passed through a float.
        ext_id=ext_id(raw.get("pk_id") or raw.get("pk") or raw.get("id"), "user"),
        username=text(raw.get("username"), "user.username"),
        full_name=opt_text(raw.get("full_name"), "user.full_name") or "",
        avatar_url=opt_text(raw.get("profile_pic_url"), "user.profile_pic_url"),
        is_private=bool(raw.get("is_private")),
        is_verified=bool(raw.get("is_verified")),
        raw=raw,
    )


def _media_pk(raw: dict[str, Any], what: str) -> str:
    # "id" is "<media_pk>_<owner_pk>", exact; "pk" alone may be a float-rounded copy.
    media_id = raw.get("id")
    if isinstance(media_id, str) and "_" in media_id:
        return media_id.split("_", 1)[0]
    return ext_id(raw.get("pk") if raw.get("pk") is not None else media_id, what)


def _best_image(raw: dict[str, Any]) -> dict[str, Any]:
    candidates = (raw.get("image_versions2") or {}).get("candidates") or []
    return candidates[0] if candidates and isinstance(candidates[0], dict) else {}


def _media(raw: dict[str, Any]) -> Media:
    image = _best_image(raw)
    videos = raw.get("video_versions") or []
    is_video = raw.get("media_type") == 2 or bool(videos)
    return build(
        Media,
        "media",
        ext_id=_media_pk(raw, "media"),
        media_type="video" if is_video else "photo",
        url=opt_text(image.get("url"), "media.url"),
        width=count(image.get("width")),
        height=count(image.get("height")),
        video_url=opt_text(videos[0].get("url"), "media.video_url")
        if videos and isinstance(videos[0], dict)
        else None,
        raw=raw,
    )


_KINDS: dict[Any, Literal["photo", "video", "carousel"]] = {1: "photo", 2: "video", 8: "carousel"}


def parse_media(raw: dict[str, Any]) -> Post:
    kind = _KINDS.get(raw.get("media_type"))
    if kind is None:
        raise bad(f"media: unknown media_type {raw.get('media_type')!r}")
    children = raw.get("carousel_media") if kind == "carousel" else [raw]
    if not isinstance(children, list) or not children:
        raise bad("media: a carousel without carousel_media")
    caption = raw.get("caption")
    owner = raw.get("user") or raw.get("owner") or {}
    return build(
        Post,
        "media",
        ext_id=_media_pk(raw, "media"),
        code=opt_text(raw.get("code"), "media.code"),
        taken_at=unix_time(raw.get("taken_at"), "media.taken_at"),
        kind=kind,
        product_type=opt_text(raw.get("product_type"), "media.product_type"),
        caption=opt_text(caption.get("text"), "media.caption")
        if isinstance(caption, dict)
        else None,
        like_count=count(raw.get("like_count")),
        comment_count=count(raw.get("comment_count")),
        play_count=count(raw.get("play_count")),
        expires_at=unix_time(raw["expiring_at"], "media.expiring_at")
        if raw.get("expiring_at") is not None
        else None,
        owner_ext_id=ext_id(owner["pk"], "media.user")
        if isinstance(owner, dict) and owner.get("pk") is not None
        else None,
        # Instagram lists the users a feed item is pinned for (the owner, for a pinned post).
        pinned=bool(raw.get("timeline_pinned_user_ids")),
        media=[_media(obj(c, "carousel_media[]")) for c in children],
        raw=raw,
    )


def parse_comment(raw: dict[str, Any], post_ext_id: str, parent: str | None = None) -> Comment:
    """A comment, or (``parent``: the comment it answers) a reply."""
    user = raw.get("user")
    if not isinstance(user, dict):
        user = {}
    return build(
        Comment,
        "comment",
        ext_id=ext_id(raw.get("pk_id") or raw.get("pk") or raw.get("id"), "comment"),
        post_ext_id=post_ext_id,
        text=opt_text(raw.get("text"), "comment.text") or "",
        created_at=unix_time(raw.get("created_at"), "comment.created_at"),
        like_count=count(raw.get("comment_like_count")),
        reply_count=count(raw.get("child_comment_count")),
        author_ext_id=ext_id(user.get("pk_id") or user.get("pk"), "comment.user") if user else None,
        author_username=opt_text(user.get("username"), "comment.user.username"),
        author_name=opt_text(user.get("full_name"), "comment.user.full_name"),
        author_avatar_url=opt_text(user.get("profile_pic_url"), "comment.user.profile_pic_url"),
        parent_ext_id=parent,
        raw=raw,
    )


def parse_highlight(raw: dict[str, Any]) -> Highlight:
    cover = (raw.get("cover_media") or {}).get("cropped_image_version") or {}
    created = raw.get("created_at")
    return build(
        Highlight,
        "highlight",
        ext_id=ext_id(raw.get("id"), "highlight").removeprefix("highlight:"),
        title=opt_text(raw.get("title"), "highlight.title") or "",
        media_count=count(raw.get("media_count")),
        created_at=unix_time(created, "highlight.created_at") if created is not None else None,
        cover_url=opt_text(cover.get("url"), "highlight.cover")
        if isinstance(cover, dict)
        else None,
        raw=raw,
    )


# --------------------------------------------------------------------------- pages
# Each returns (items, next cursor, has more). Both Instagram APIs deliver these bodies.
def _cursor(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def users_page(body: dict[str, Any], _: Mapping[str, Any]) -> PageParts:
    """Followers / followings: ``users[]`` and ``next_max_id``."""
    items = each(items_of(body, "users", "users"), parse_short_user)
    cursor = _cursor(body.get("next_max_id"))
    return items, cursor, cursor is not None


def feed_page(body: dict[str, Any], _: Mapping[str, Any]) -> PageParts:
    """A user's posts: ``items[]``, ``next_max_id``, ``more_available``."""
    items = each(items_of(body, "items", "feed"), parse_media)
    cursor = _cursor(body.get("next_max_id"))
    return items, cursor, cursor is not None and bool(body.get("more_available", True))


def clips_page(body: dict[str, Any], _: Mapping[str, Any]) -> PageParts:
    """Reels: ``items[].media`` and ``paging_info.max_id``."""
    items = each(
        [obj(i.get("media"), "clips.items[].media") for i in items_of(body, "items", "clips")],
        parse_media,
    )
    paging = body.get("paging_info") or {}
    cursor = _cursor(paging.get("max_id"))
    return items, cursor, cursor is not None and bool(paging.get("more_available", True))


def comments_page(body: dict[str, Any], params: Mapping[str, Any]) -> PageParts:
    """A post's comments: ``comments[]`` and ``next_min_id``."""
    post = str(params["post_id"])
    items = each(items_of(body, "comments", "comments"), lambda c: parse_comment(c, post))
    cursor = _cursor(body.get("next_min_id"))
    return items, cursor, cursor is not None


def highlights_page(body: dict[str, Any], _: Mapping[str, Any]) -> PageParts:
    return [parse_highlight(h) for h in items_of(body, "tray", "highlights")], None, False


def reels_media_page(body: dict[str, Any], params: Mapping[str, Any]) -> PageParts:
    """Stories (a user's live ones, or a highlight's): ``reels[<id>].items[]``, one page.

    The reel asked for only: ``reels`` is keyed by user pk (stories) or "highlight:<id>".
    """
    reels = body.get("reels")
    if reels is None:
        reels = {}
    reels = obj(reels, "reels")
    reel = reels.get(str(params["reel_id"]))
    if reel is None:  # nothing live: the reel is left out
        return [], None, False
    return each(items_of(obj(reel, "reels[]"), "items", "reel"), parse_media), None, False


def likers_page(body: dict[str, Any], _: Mapping[str, Any]) -> PageParts:
    """A post's likers: ``users[]``, at most 1,000, no cursor (``user_count``: all of them)."""
    return each(items_of(body, "users", "likers"), parse_short_user), None, False


def replies_page(body: dict[str, Any], params: Mapping[str, Any]) -> PageParts:
    """A comment's replies: ``child_comments[]``; the next cursor is ``next_max_child_cursor``
    (RocketAPI, towards newer) or ``next_min_child_cursor`` (Instagram's own, towards older),
    whichever the body carries, with its ``has_more_…_child_comments`` flag."""
    post, parent = str(params["post_id"]), str(params["comment_id"])
    items = each(
        items_of(body, "child_comments", "replies"), lambda c: parse_comment(c, post, parent)
    )
    for cursor_key, more_key in (
        ("next_max_child_cursor", "has_more_tail_child_comments"),
        ("next_min_child_cursor", "has_more_head_child_comments"),
    ):
        cursor = _cursor(body.get(cursor_key))
        if cursor is not None:
            return items, cursor, bool(body.get(more_key, True))
    return items, None, False


# --------------------------------------------------------------------------- the facade
class InstagramApi(Protocol):
    """One Instagram API provider (``rocket``, ``scraper``)."""

    name: str
    methods: frozenset[str]
    """The methods its API has at all (``available`` narrows them by configuration)."""

    async def fetch(
        self, method: InstagramMethod, params: Mapping[str, Any], cursor: str | None
    ) -> Page[Any]:
        """One request; raises ProviderError on failure."""


class Instagram:
    """The Insteon facade for Instagram: the seed's methods, failover by priority per method."""

    def __init__(
        self, apis: Sequence[InstagramApi], available: Mapping[str, frozenset[str]]
    ) -> None:
        """
        Args:
            apis: providers in priority order.
            available: per provider name, the methods it may be used for.
        """
        self.apis = list(apis)
        self.available = dict(available)

    def providers_for(self, method: InstagramMethod) -> list[InstagramApi]:
        return [
            a
            for a in self.apis
            if method in a.methods and method in self.available.get(a.name, frozenset(METHODS))
        ]

    async def _call(
        self,
        method: InstagramMethod,
        params: dict[str, Any],
        end_cursor: str | None = None,
        last_provider_name: str | None = None,
    ) -> Page[Any]:
        return await call_with_failover(
            self.providers_for(method),
            lambda api: api.fetch(method, params, end_cursor),
            cursor=end_cursor,
            last_provider_name=last_provider_name,
            method=method,
        )

    async def user_info(
        self, *, username: str | None = None, user_id: str | None = None
    ) -> Page[Profile]:
        """One account by ``username`` or ``user_id`` (exactly one of them)."""
        if (username is None) == (user_id is None):
            raise ValueError("user_info takes a username or a user_id")
        params = {"username": username} if username is not None else {"user_id": str(user_id)}
        return await self._call("user_info", params)

    async def followers(
        self,
        *,
        user_id: str,
        count: int = 50,
        end_cursor: str | None = None,
        last_provider_name: str | None = None,
    ) -> Page[Account]:
        return await self._call(
            "followers", {"user_id": str(user_id), "count": count}, end_cursor, last_provider_name
        )

    async def followings(
        self,
        *,
        user_id: str,
        count: int = 50,
        end_cursor: str | None = None,
        last_provider_name: str | None = None,
    ) -> Page[Account]:
        return await self._call(
            "followings", {"user_id": str(user_id), "count": count}, end_cursor, last_provider_name
        )

    async def user_posts(
        self,
        *,
        user_id: str,
        count: int = 12,
        end_cursor: str | None = None,
        last_provider_name: str | None = None,
    ) -> Page[Post]:
        return await self._call(
            "user_posts", {"user_id": str(user_id), "count": count}, end_cursor, last_provider_name
        )

    async def post_comments(
        self, *, post_id: str, end_cursor: str | None = None, last_provider_name: str | None = None
    ) -> Page[Comment]:
        return await self._call(
            "post_comments", {"post_id": str(post_id)}, end_cursor, last_provider_name
        )

    async def user_reels(
        self,
        *,
        user_id: str,
        count: int = 12,
        end_cursor: str | None = None,
        last_provider_name: str | None = None,
    ) -> Page[Post]:
        return await self._call(
            "user_reels", {"user_id": str(user_id), "count": count}, end_cursor, last_provider_name
        )

    async def user_highlights(self, *, user_id: str) -> Page[Highlight]:
        return await self._call("user_highlights", {"user_id": str(user_id)})

    async def user_stories(self, *, user_id: str) -> Page[Post]:
        """The stories live now (one page: an empty one when there are none)."""
        return await self._call("user_stories", {"user_id": str(user_id), "reel_id": str(user_id)})

    async def highlight_stories(self, *, highlight_id: str) -> Page[Post]:
        """The stories of a highlight (its id without the "highlight:" prefix)."""
        reel = f"highlight:{highlight_id}"
        return await self._call("highlight_stories", {"highlight_id": reel, "reel_id": reel})

    async def post_likers(self, *, post_id: str) -> Page[Account]:
        """Up to 1,000 likers of a post, one page (the providers do not paginate them)."""
        return await self._call("post_likers", {"post_id": str(post_id)})

    async def comment_replies(
        self,
        *,
        post_id: str,
        comment_id: str,
        end_cursor: str | None = None,
        last_provider_name: str | None = None,
    ) -> Page[Comment]:
        return await self._call(
            "comment_replies",
            {"post_id": str(post_id), "comment_id": str(comment_id)},
            end_cursor,
            last_provider_name,
        )
