"""Instagram's payloads and lookups, shared by the RocketAPI and scraper simulations.

Both providers relay Instagram's own shapes (``docs/wire-formats.md``); they differ in
envelopes, error bodies and cursor parameter names, which stay in their modules.

Pinned posts lead the first feed page (``user/get_media``, ``/user-feeds``), each marked
``"timeline_pinned_user_ids": [<owner pk as an integer>]`` as Instagram's private API marks
them; reels pages carry no marker.

With a ``bad_item_rate``, some list items are served malformed, always the same ones (see
:meth:`socialsim.faults.FaultPlan.bad_item`), the rest of the page intact:

- a post (feed and reels, keyed by media pk): ``taken_at`` is the string ``"undefined"``;
- a comment (keyed by comment pk): ``pk`` is null;
- a follower or following (keyed by user pk, in every list): ``pk`` and ``pk_id`` are null.

Stories, highlight stories, likers and comment replies are always served whole. For a
private profile they are refused like its other lists; a call naming several profiles or
highlights (``user/get_stories``, ``highlight/get_stories``) is refused as a whole by the
first id it cannot show.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from socialsim.apis import cdn
from socialsim.cursors import CursorError
from socialsim.sim import ApiName, Sim
from socialsim.world import instagram as world_instagram
from socialsim.world.instagram import (
    Comment,
    CommentReply,
    Highlight,
    Instagram,
    Post,
    Profile,
    Story,
)

ErrorKind = Literal[
    "not_found",
    "media_not_found",
    "comment_not_found",
    "highlight_not_found",
    "private",
    "bad_cursor",
]
Stream = Literal["followers", "following", "media", "clips", "comments", "replies"]


class InstagramError(Exception):
    """What Instagram refuses: an unknown user or media, a private account, a bad cursor.

    Attributes:
        kind: which refusal.
        expired: for ``bad_cursor``, whether the cursor had expired (counted as a fault).
    """

    def __init__(self, kind: ErrorKind, *, expired: bool = False) -> None:
        super().__init__(kind)
        self.kind: ErrorKind = kind
        self.expired = expired


# ---------------------------------------------------------------------- lookups


def profile_by_username(sim: Sim, username: object) -> Profile:
    """The profile named ``username``.

    Raises:
        InstagramError: ``not_found``.
    """
    profile = sim.world.instagram.find_username(str(username)) if username else None
    if profile is None:
        raise InstagramError("not_found")
    return profile


def profile_by_id(sim: Sim, user_id: object) -> Profile:
    """The profile whose pk is ``user_id`` (a string or an integer).

    Raises:
        InstagramError: ``not_found``.
    """
    profile = sim.world.instagram.find_pk(str(user_id)) if user_id is not None else None
    if profile is None:
        raise InstagramError("not_found")
    return profile


def public_profile_by_id(sim: Sim, user_id: object) -> Profile:
    """Like :func:`profile_by_id`, for lists only a public profile shows.

    Raises:
        InstagramError: ``not_found`` or ``private``.
    """
    profile = profile_by_id(sim, user_id)
    if profile.is_private:
        raise InstagramError("private")
    return profile


def media_by_id(sim: Sim, media_id: object) -> tuple[Profile, Post]:
    """The owner and post of a media pk (or ``"<media_pk>_<owner_pk>"``).

    Raises:
        InstagramError: ``media_not_found`` or ``private``.
    """
    text = str(media_id).split("_", 1)[0]
    found = sim.world.instagram.find_media(int(text)) if text.isdigit() else None
    if found is None:
        raise InstagramError("media_not_found")
    if found[0].is_private:
        raise InstagramError("private")
    return found


def read_cursor(sim: Sim, api: ApiName, stream: Stream, owner: str, cursor: object) -> int | None:
    """The position of a cursor sent back by the client (None when there is none).

    Raises:
        InstagramError: ``bad_cursor``.
    """
    if cursor is None or cursor == "":
        return None
    try:
        return sim.cursors.read(str(cursor), api, stream, owner)
    except CursorError as exc:
        raise InstagramError("bad_cursor", expired=exc.expired) from exc


def issue_cursor(
    sim: Sim, api: ApiName, stream: Stream, owner: str, position: int | None
) -> str | None:
    """A cursor for the next page, or None on the last page."""
    return None if position is None else sim.cursors.issue(api, stream, owner, position)


# ---------------------------------------------------------------------- pages


@dataclass(frozen=True, slots=True)
class UserPage:
    """A page of a follow list.

    Attributes:
        users: ``SHORT_USER`` payloads.
        cursor: the next cursor (None on the last page or when truncated).
        truncated: the list was made to end early although more exist.
    """

    users: list[dict[str, Any]]
    cursor: str | None
    truncated: bool
    bad_items: int = 0


def follow_page(
    sim: Sim,
    api: ApiName,
    user_id: object,
    *,
    stream: Literal["followers", "following"],
    count: int,
    cursor: object,
) -> UserPage:
    """A page of a public profile's followers or followings, newest first.

    Raises:
        InstagramError: unknown or private profile, bad cursor.
    """
    profile = public_profile_by_id(sim, user_id)
    ig = sim.world.instagram
    state = ig.state(profile)
    follow_list = state.followers if stream == "followers" else state.following
    before = read_cursor(sim, api, stream, profile.pk, cursor)
    members, position = follow_list.page(before, count)
    truncated = position is not None and sim.faults.truncate()
    if truncated:
        position = None
    users = [short_user(sim, member) for member in members]
    bad = [bad_user(sim, user["pk"]) for user in users]
    return UserPage(
        users=[malformed_user(u) if b else u for u, b in zip(users, bad, strict=True)],
        cursor=issue_cursor(sim, api, stream, profile.pk, position),
        truncated=truncated,
        bad_items=sum(bad),
    )


@dataclass(frozen=True, slots=True)
class MediaPage:
    """A page of posts or reels: ``MEDIA`` payloads, the next cursor, the malformed items."""

    items: list[dict[str, Any]]
    cursor: str | None
    bad_items: int = 0


def media_page(
    sim: Sim,
    api: ApiName,
    user_id: object,
    *,
    stream: Literal["media", "clips"],
    count: int,
    cursor: object,
) -> MediaPage:
    """A page of a public profile's posts (or reels only), newest first; a first page of
    posts starts with the pinned ones, marked.

    Raises:
        InstagramError: unknown or private profile, bad cursor.
    """
    profile = public_profile_by_id(sim, user_id)
    ig = sim.world.instagram
    state = ig.state(profile)
    before = read_cursor(sim, api, stream, profile.pk, cursor)
    if stream == "media":
        posts, position = ig.posts_page(state, before, count)
        pinned = set(state.pinned)
    else:
        posts, position = ig.clips_page(state, before, count)
        pinned = set()
    items = []
    bad_items = 0
    for post in posts:
        item = media(sim, profile, post, pinned=post.index in pinned)
        if bad_post(sim, post):
            item["taken_at"] = "undefined"
            bad_items += 1
        items.append(item)
    return MediaPage(
        items=items,
        cursor=issue_cursor(sim, api, stream, profile.pk, position),
        bad_items=bad_items,
    )


@dataclass(frozen=True, slots=True)
class CommentPage:
    """A page of a post's comments."""

    comments: list[dict[str, Any]]
    comment_count: int
    cursor: str | None
    bad_items: int = 0


def comment_page(sim: Sim, api: ApiName, media_id: object, cursor: object) -> CommentPage:
    """A page of 20 comments of a post, newest first.

    Raises:
        InstagramError: unknown media, private owner, bad cursor.
    """
    _, post = media_by_id(sim, media_id)
    ig = sim.world.instagram
    owner = str(post.pk)
    before = read_cursor(sim, api, "comments", owner, cursor)
    comments, position = ig.comments_page(post, before, COMMENTS_PER_PAGE)
    bad = [bad_comment(sim, c) for c in comments]
    return CommentPage(
        comments=[
            {**comment(sim, c), "pk": None} if b else comment(sim, c)
            for c, b in zip(comments, bad, strict=True)
        ],
        comment_count=ig.comment_count(post),
        cursor=issue_cursor(sim, api, "comments", owner, position),
        bad_items=sum(bad),
    )


COMMENTS_PER_PAGE = 20
MEDIA_PER_PAGE = 12


def highlights(sim: Sim, user_id: object) -> list[dict[str, Any]]:
    """A public profile's highlight tray.

    Raises:
        InstagramError: unknown or private profile.
    """
    profile = public_profile_by_id(sim, user_id)
    return [
        highlight(sim.world.instagram, profile, h) for h in sim.world.instagram.highlights(profile)
    ]


MAX_STORY_USERS = 4
"""``user/get_stories`` takes at most this many user ids."""
MAX_LIKERS = 1_000
"""Likers are one page of at most this many, newest first: no pagination."""
REPLIES_PER_PAGE = 20


def story_reels(sim: Sim, user_ids: list[object]) -> list[dict[str, Any]]:
    """The live stories of public profiles as reels, in the order asked, leaving out a
    profile without a live story.

    Raises:
        InstagramError: an unknown or private profile among them.
    """
    ig = sim.world.instagram
    profiles = [public_profile_by_id(sim, user_id) for user_id in user_ids]
    reels = []
    for profile in profiles:
        stories = ig.live_stories(profile)
        if stories:
            reels.append(
                {
                    "id": int(profile.pk),
                    "items": [story(sim, profile, s) for s in stories],
                    "expiring_at": stories[-1].expiring_at,
                    "latest_reel_media": stories[-1].taken_at,
                    "media_count": len(stories),
                    "user": short_user(sim, profile.index),
                }
            )
    return reels


def highlight_reels(sim: Sim, highlight_ids: list[object]) -> list[dict[str, Any]]:
    """Highlights of public profiles with their stories, in the order asked.

    Raises:
        InstagramError: an unknown highlight, or one of a private profile.
    """
    ig = sim.world.instagram
    reels = []
    for highlight_id in highlight_ids:
        found = ig.find_highlight(str(highlight_id))
        if found is None:
            raise InstagramError("highlight_not_found")
        profile, h = found
        if profile.is_private:
            raise InstagramError("private")
        items = ig.highlight_items(profile, h)
        reels.append(
            {
                "id": f"highlight:{h.pk}",
                "title": h.title,
                "created_at": h.created_at,
                "media_count": len(items),
                "items": [story(sim, profile, s) for s in items],
                "user": short_user(sim, profile.index),
            }
        )
    return reels


def likers(sim: Sim, media_id: object) -> tuple[list[dict[str, Any]], int]:
    """The newest :data:`MAX_LIKERS` likers of a post (``SHORT_USER``) and its like count.

    Raises:
        InstagramError: unknown media, private owner.
    """
    _, post = media_by_id(sim, media_id)
    ig = sim.world.instagram
    users = [short_user(sim, index) for index in ig.likers(post, MAX_LIKERS)]
    return users, ig.like_count(post)


@dataclass(frozen=True, slots=True)
class ReplyPage:
    """A page of a comment's replies (``COMMENT`` payloads with ``parent_comment_id``)."""

    replies: list[dict[str, Any]]
    child_comment_count: int
    parent_comment_id: str
    cursor: str | None


def reply_page(
    sim: Sim,
    api: ApiName,
    media_id: object,
    comment_id: object,
    cursor: object,
    *,
    newest_first: bool,
) -> ReplyPage:
    """A page of :data:`REPLIES_PER_PAGE` replies of a post's comment: newest first paging
    towards older ones (Instagram's "head"), or oldest first paging towards newer ("tail").

    Raises:
        InstagramError: unknown media or comment, private owner, bad cursor.
    """
    _, post = media_by_id(sim, media_id)
    ig = sim.world.instagram
    parent = ig.find_comment(post, str(comment_id))
    if parent is None:
        raise InstagramError("comment_not_found")
    position = read_cursor(sim, api, "replies", parent.pk, cursor)
    replies, position = ig.replies_page(
        post, parent, position, REPLIES_PER_PAGE, newest_first=newest_first
    )
    return ReplyPage(
        replies=[reply(sim, r) for r in replies],
        child_comment_count=parent.child_comment_count,
        parent_comment_id=parent.pk,
        cursor=issue_cursor(sim, api, "replies", parent.pk, position),
    )


def id_list(value: object) -> list[object]:
    """Ids sent as a JSON list, or as one string of comma-separated ids."""
    if isinstance(value, list):
        return value
    return [part for part in str(value).split(",") if part.strip()]


def bad_post(sim: Sim, post: Post) -> bool:
    """Whether the post is served malformed (in the feed and in reels)."""
    return sim.faults.bad_item("media", str(post.pk))


def bad_comment(sim: Sim, c: Comment) -> bool:
    """Whether the comment is served malformed."""
    return sim.faults.bad_item("comment", c.pk)


def bad_user(sim: Sim, pk: str) -> bool:
    """Whether the account is served malformed in follower and following lists."""
    return sim.faults.bad_item("user", pk)


def malformed_user(user: dict[str, Any]) -> dict[str, Any]:
    """A copy of a ``SHORT_USER`` without its id (``pk`` and ``pk_id`` null)."""
    return {**user, "pk": None, "pk_id": None}


def page_size(value: object, default: int, limit: int) -> int:
    """A requested page size, clamped to ``[1, limit]`` (``default`` when absent or bad)."""
    try:
        size = int(str(value)) if value is not None else default
    except ValueError:
        size = default
    return max(1, min(limit, size))


# ---------------------------------------------------------------------- shapes


def short_user(sim: Sim, index: int) -> dict[str, Any]:
    """``SHORT_USER``: ``pk``, ``username``, ``full_name``, ``is_private``, ``is_verified``,
    ``profile_pic_url`` (cached: never modify the returned dict)."""
    cache = sim.short_users
    cached = cache.get(index)
    if cached is None:
        account = sim.world.instagram.account(index)
        cached = {
            "pk": account.pk,
            "pk_id": account.pk,
            "username": account.username,
            "full_name": account.full_name,
            "is_private": account.is_private,
            "is_verified": account.is_verified,
            "profile_pic_url": account.profile_pic_url,
        }
        if len(cache) > 500_000:
            cache.clear()
        cache[index] = cached
    return cached


def web_user(ig: Instagram, profile: Profile) -> dict[str, Any]:
    """``WEB_USER``, the web profile shape (``user/get_info``, scraper ``/profile``)."""
    state = ig.state(profile)
    return {
        "id": profile.pk,
        "username": profile.username,
        "full_name": profile.full_name,
        "biography": profile.biography,
        "profile_pic_url": ig.account(profile.index).profile_pic_url,
        "profile_pic_url_hd": ig.account(profile.index).profile_pic_url,
        "external_url": profile.external_url,
        "is_private": profile.is_private,
        "is_verified": profile.is_verified,
        "is_business_account": False,
        "edge_followed_by": {"count": state.followers.alive_count},
        "edge_follow": {"count": state.following.alive_count},
        "edge_owner_to_timeline_media": {"count": len(state.posts)},
        "highlight_reel_count": len(ig.highlights(profile)),
    }


def api_user(ig: Instagram, profile: Profile) -> dict[str, Any]:
    """``API_USER``, the private-API user shape (``user/get_info_by_id``)."""
    state = ig.state(profile)
    return {
        "pk": profile.pk,
        "pk_id": profile.pk,
        "username": profile.username,
        "full_name": profile.full_name,
        "biography": profile.biography,
        "profile_pic_url": ig.account(profile.index).profile_pic_url,
        "external_url": profile.external_url,
        "is_private": profile.is_private,
        "is_verified": profile.is_verified,
        "follower_count": state.followers.alive_count,
        "following_count": state.following.alive_count,
        "media_count": len(state.posts),
    }


def _image(url: str, width: int, height: int) -> dict[str, Any]:
    return {"url": url, "width": width, "height": height}


def _versions(sim: Sim, pk: int, *, video: bool, tall: bool) -> dict[str, Any]:
    """``image_versions2`` (and a video's ``video_versions``): socialsim's CDN URLs, expiring
    (:mod:`socialsim.apis.cdn`); ``tall`` for 9:16 media (videos, stories)."""
    sizes = cdn.IG_TALL if tall else cdn.IG_PHOTO
    out: dict[str, Any] = {
        "image_versions2": {
            "candidates": [
                _image(cdn.instagram_url(sim, pk, "n"), *sizes["n"]),
                _image(cdn.instagram_url(sim, pk, "s"), *sizes["s"]),
            ]
        }
    }
    if video:
        out["video_versions"] = [
            {"type": 101, **_image(cdn.instagram_url(sim, pk, "v"), *sizes["v"])},
            {"type": 102, **_image(cdn.instagram_url(sim, pk, "l"), *sizes["l"])},
        ]
    return out


def media(sim: Sim, profile: Profile, post: Post, *, pinned: bool = False) -> dict[str, Any]:
    """``MEDIA``: one post, with carousel children for ``media_type`` 8 (a carousel's own
    picture is its first child's).

    Args:
        sim: the simulator.
        profile: the post's owner.
        post: the post.
        pinned: mark it pinned to the top of the feed (``timeline_pinned_user_ids``).
    """
    ig = sim.world.instagram
    pk = str(post.pk)
    video = post.media_type == 2
    caption: dict[str, Any] | None = None
    if post.has_caption:
        caption_pk, written = ig.caption(post)
        caption = {"pk": caption_pk, "text": written.text, "created_at": post.taken_at}
    item: dict[str, Any] = {
        "pk": pk,
        "id": f"{pk}_{profile.pk}",
        "code": post.code,
        "taken_at": post.taken_at,
        "media_type": post.media_type,
        "product_type": post.product_type,
        "caption": caption,
        "like_count": ig.like_count(post),
        "comment_count": ig.comment_count(post),
        "user": {"pk": profile.pk, "username": profile.username},
        **_versions(sim, post.pk, video=video, tall=video),
    }
    if video:
        item["play_count"] = ig.play_count(post)
    if pinned:
        item["timeline_pinned_user_ids"] = [int(profile.pk)]
    if post.media_type == 8:
        children = []
        for j in range(post.children):
            child_pk = world_instagram.child_pk(post, j)
            child_video = world_instagram.child_is_video(j)
            children.append(
                {
                    "pk": str(child_pk),
                    "id": f"{child_pk}_{profile.pk}",
                    "media_type": 2 if child_video else 1,
                    **_versions(sim, child_pk, video=child_video, tall=child_video),
                }
            )
        item["carousel_media_count"] = post.children
        item["carousel_media"] = children
    return item


def comment(sim: Sim, c: Comment) -> dict[str, Any]:
    """``COMMENT``: one top-level comment with its author as ``SHORT_USER``."""
    return {
        "pk": c.pk,
        "text": c.text,
        "created_at": c.created_at,
        "comment_like_count": c.like_count,
        "child_comment_count": c.child_comment_count,
        "user": short_user(sim, c.author),
    }


def reply(sim: Sim, r: CommentReply) -> dict[str, Any]:
    """A reply: ``COMMENT`` (no replies of its own) plus ``parent_comment_id``."""
    return {
        "pk": r.pk,
        "text": r.text,
        "created_at": r.created_at,
        "comment_like_count": r.like_count,
        "child_comment_count": 0,
        "user": short_user(sim, r.author),
        "parent_comment_id": r.parent_pk,
    }


def story(sim: Sim, profile: Profile, s: Story) -> dict[str, Any]:
    """``STORY``: one story, an Instagram media item of ``product_type`` ``"story"``."""
    pk = str(s.pk)
    return {
        "pk": pk,
        "id": f"{pk}_{profile.pk}",
        "media_type": s.media_type,
        "product_type": "story",
        "taken_at": s.taken_at,
        "expiring_at": s.expiring_at,
        "user": {"pk": profile.pk, "username": profile.username},
        **_versions(sim, s.pk, video=s.media_type == 2, tall=True),
    }


def highlight(ig: Instagram, profile: Profile, h: Highlight) -> dict[str, Any]:
    """``HIGHLIGHT``: one highlight of the tray."""
    return {
        "id": f"highlight:{h.pk}",
        "title": h.title,
        "media_count": len(ig.highlight_items(profile, h)),
        "created_at": h.created_at,
        "cover_media": {
            "cropped_image_version": {
                "url": f"https://scontent.cdninstagram.com/v/t51.2885-15/{h.pk}_cover.jpg"
            }
        },
    }
