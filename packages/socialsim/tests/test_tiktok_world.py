"""The TikTok world over time and across APIs: TikTok's ids, order-independent generation,
growth with the clock, determinism, cursors bound to their listing, injected faults."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from socialsim.testing import serve
from socialsim.world import World, WorldConfig
from socialsim.world.clock import SIM_START

RAPID = {"x-rapidapi-key": "sim-key", "x-rapidapi-host": "tiktok.example"}
WORLD = {"profiles": 5, "channels": 1, "tiktok_accounts": 12}


@contextmanager
def client(**options: Any) -> Iterator[httpx.Client]:
    with (
        serve(**{**WORLD, **options}) as sim,
        httpx.Client(base_url=sim.url, timeout=30) as http,
    ):
        yield http


def truth(http: httpx.Client, path: str = "") -> dict[str, Any]:
    response = http.get(f"/_sim/truth/tiktok{path}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def research_token(http: httpx.Client) -> dict[str, str]:
    form = {"client_key": "k", "client_secret": "sim-key", "grant_type": "client_credentials"}
    for _ in range(50):
        try:
            response = http.post("/v2/oauth/token/", data=form)
            if response.status_code == 200:
                return {"Authorization": f"Bearer {response.json()['access_token']}"}
        except (httpx.RemoteProtocolError, ValueError):
            continue  # a dropped or malformed answer under fault injection
    raise AssertionError("no token in 50 tries")


def test_ids_are_tiktok_ids_and_find_their_objects() -> None:
    world = World(WorldConfig(seed=5, tiktok_accounts=8))
    tt = world.tiktok
    assert [c.account.username for c in tt.creators] == [
        *(f"tt_user_{i:04d}" for i in range(1, 9)),
        "tt_giant",
    ]
    for creator in tt.creators:
        account = creator.account
        assert len(account.user_id) == 19 and int(account.user_id) > 2**53
        assert account.sec_uid.startswith("MS4wLjABAAAA") and len(account.sec_uid) == 76
        assert tt.find_user_id(account.user_id) is creator
        assert tt.find_sec_uid(account.sec_uid) is creator
        for video in tt.state(creator).videos[-5:]:
            assert len(video.video_id) == 19 and int(video.video_id) >> 32 == video.create_time
            assert tt.find_video(video.video_id) == (creator, video)
            for comment in tt.comments(video)[:3]:
                assert int(comment.comment_id) >> 32 == comment.create_time
                assert tt.find_comment(comment.comment_id) == (creator, video, comment)
                for reply in tt.replies(comment):
                    assert int(reply.comment_id) >> 32 == reply.create_time
    assert tt.find_video("7000000000000000000") is None
    assert tt.find_comment(str(int(tt.state(tt.creators[0]).videos[0].video_id))) is None
    assert tt.creators[-1].followers_target > 2 * 5000


def test_generation_does_not_depend_on_the_order_of_use() -> None:
    def snapshot(world: World) -> list[tuple[Any, ...]]:
        tt = world.tiktok
        out = []
        for creator in tt.creators:
            state = tt.state(creator)
            out.append(
                (
                    state.followers.live(),
                    state.following.live(),
                    [(v.video_id, tt.plays(v), tt.comment_count(v)) for v in state.videos],
                    state.pinned,
                )
            )
        return out

    first = World(WorldConfig(seed=6, tiktok_accounts=6))
    for creator in first.tiktok.creators:
        first.tiktok.state(creator)
    first.advance(30)
    first.advance(20)
    second = World(WorldConfig(seed=6, tiktok_accounts=6))
    second.advance(30)
    second.advance(20)
    for creator in reversed(second.tiktok.creators):
        second.tiktok.state(creator)
    assert snapshot(first) == snapshot(second)
    assert snapshot(first) != snapshot(World(WorldConfig(seed=7, tiktok_accounts=6)))


def test_counts_lists_and_comments_grow_with_the_clock() -> None:
    with client(seed=21) as http:
        accounts = [a for a in truth(http)["accounts"] if a["exists"] and not a["is_private"]]
        assert len(accounts) >= 8
        assert http.post("/_sim/clock", json={"advance_hours": 48}).status_code == 200
        middle = {a["username"]: truth(http, f"/{a['username']}") for a in accounts}
        fresh = [
            (name, v)
            for name, t in middle.items()
            for v in t["videos"]
            if v["create_time"] > SIM_START
        ]
        assert len(fresh) >= 5, "creators posted while the clock moved"
        name, video = max(fresh, key=lambda nv: nv[1]["comment_count"])
        comments_before = truth(http, f"/{name}/videos/{video['ext_id']}")["comments"]
        assert comments_before
        assert http.post("/_sim/clock", json={"advance_hours": 48}).status_code == 200
        after = {a["username"]: truth(http, f"/{a['username']}") for a in accounts}
        grown = {v["ext_id"]: v for name, _ in fresh for v in after[name]["videos"]}
        for _, video in fresh:
            now = grown[video["ext_id"]]
            assert now["play_count"] > video["play_count"], (video, now)
            for count in ("like_count", "comment_count", "share_count", "collect_count"):
                assert now[count] >= video[count], (count, video, now)
        for count in ("like_count", "comment_count"):
            assert sum(grown[v["ext_id"]][count] for _, v in fresh) > sum(
                v[count] for _, v in fresh
            )
        entry = next(a for a in accounts if a["username"] == name)
        page = http.get(
            "/api/user/posts", params={"secUid": entry["sec_uid"], "count": 35}, headers=RAPID
        ).json()
        newest = [v["ext_id"] for v in after[name]["videos"] if not v["pinned"]]
        listed = [i["id"] for i in page["itemList"] if not i["isPinnedItem"]]
        assert listed == newest[: len(listed)] and video["ext_id"] in listed
        item = next(i for i in page["itemList"] if i["id"] == video["ext_id"])
        assert item["statsV2"]["playCount"] == str(grown[video["ext_id"]]["play_count"])
        comments_after = truth(http, f"/{name}/videos/{video['ext_id']}")["comments"]
        new = comments_after[: len(comments_after) - len(comments_before)]
        assert new and comments_after[len(new) :] == [
            {**c, "reply_count": a["reply_count"], "replies": a["replies"]}
            for c, a in zip(comments_before, comments_after[len(new) :], strict=True)
        ], "new comments come first, the others stay, their replies may grow"
        biggest = max(middle, key=lambda n: len(middle[n]["followers"]))
        old, new = middle[biggest]["followers"], after[biggest]["followers"]
        known = set(old)
        joined = [f for f in new if f not in known]
        assert joined and new[: len(joined)] == joined, "new followers come first"
        assert set(old) - set(new), "some unfollowed"
        assert after[biggest]["profile"]["follower_count"] == len(new)


def _script(url: str) -> list[tuple[str, bytes]]:
    """A fixed sequence of TikTok requests: what each returned (status and body, or a drop),
    the server's own address in media URLs replaced by ``SIM`` (each server has its port)."""
    out: list[tuple[str, bytes]] = []
    with httpx.Client(base_url=url, timeout=5) as http:

        def record(method: str, path: str, **kwargs: Any) -> None:
            try:
                response = http.request(method, path, **kwargs)
            except httpx.RemoteProtocolError:
                out.append(("drop", b""))
                return
            out.append((str(response.status_code), response.content.replace(url.encode(), b"SIM")))

        accounts = truth(http)["accounts"][:4]
        research = research_token(http)
        for account in accounts:
            name, sec_uid, user_id = account["username"], account["sec_uid"], account["ext_id"]
            record("GET", "/api/user/info", params={"uniqueId": name}, headers=RAPID)
            record("GET", "/api/user/posts", params={"secUid": sec_uid}, headers=RAPID)
            record("GET", "/api/user/followers", params={"secUid": sec_uid}, headers=RAPID)
            record("GET", "/user/posts", params={"user_id": user_id}, headers=RAPID)
            record("GET", "/user/following", params={"user_id": user_id}, headers=RAPID)
            body = {"username": name}
            path = "/v2/research/user/info/?fields=display_name,follower_count"
            record("POST", path, json=body, headers=research)
    return out


def test_the_same_seed_gives_the_same_answers_faults_included() -> None:
    options = {**WORLD, "fault_rate": 0.3, "timeout_fault_s": 0.05}
    with serve(seed=4, **options) as one, serve(seed=4, **options) as two:
        first, second = _script(one.url), _script(two.url)
    assert first == second
    statuses = Counter(status for status, _ in first)
    assert statuses["200"] and len(statuses) > 1, "answers and faults both"
    with serve(seed=5, **options) as other:
        assert _script(other.url) != first


def test_a_cursor_is_refused_by_every_other_listing() -> None:
    with client(seed=22) as http:
        giant = truth(http, "/tt_giant")
        sec_uid, user_id = giant["profile"]["sec_uid"], giant["profile"]["ext_id"]
        video = max(giant["videos"], key=lambda v: v["comment_count"])

        def get(path: str, **params: Any) -> httpx.Response:
            return http.get(path, params=params, headers=RAPID)

        posts = get("/api/user/posts", secUid=sec_uid, count=5).json()["cursor"]
        followers = get("/api/user/followers", secUid=sec_uid).json()["minCursor"]
        comments = get("/api/post/comments", videoId=video["ext_id"], count=5).json()["cursor"]
        assert get("/api/user/posts", secUid=sec_uid, cursor=posts).status_code == 200
        assert get("/api/user/followers", secUid=sec_uid, minCursor=followers).status_code == 200
        refusals = [
            get("/api/user/posts", secUid=sec_uid, cursor=followers),
            get("/api/user/posts", secUid=sec_uid, cursor=comments),
            get("/api/user/followers", secUid=sec_uid, minCursor=posts),
            get("/api/user/followings", secUid=sec_uid, minCursor=comments),
            get("/api/post/comments", videoId=video["ext_id"], cursor=followers),
            get("/api/post/comments", videoId=video["ext_id"], cursor=posts),
        ]
        assert [r.status_code for r in refusals] == [400] * 6
        assert {r.json()["message"] for r in refusals} == {"Invalid cursor"}
        tikwm = [
            get("/user/posts", user_id=user_id, cursor=followers),
            get("/user/followers", user_id=user_id, time=posts),
            get("/comment/list", url=video["ext_id"], cursor=followers),
        ]
        assert [(r.status_code, r.json()["code"], r.json()["msg"]) for r in tikwm] == [
            (200, -1, "Invalid cursor")
        ] * 3
        research = http.post(
            "/v2/research/user/followers/",
            json={"username": "tt_giant", "cursor": int(posts)},
            headers=research_token(http),
        )
        assert research.status_code == 400
        assert research.json()["error"]["code"] == "invalid_params"


def _classify(send: Callable[[], httpx.Response]) -> str:
    try:
        response = send()
    except httpx.RemoteProtocolError:
        return "drop"
    if response.status_code == 504:
        return "timeout"
    if response.status_code in (500, 502, 503):
        if response.headers["content-type"].startswith("application/json"):
            return str(response.json()["error"]["code"])
        return "5xx"
    try:
        response.json()
    except ValueError:
        return "malformed"
    return str(response.status_code)


@pytest.mark.parametrize("fault_rate", [0.6])
def test_transport_faults_and_internal_errors_reach_tiktok_clients(fault_rate: float) -> None:
    with client(seed=23, fault_rate=fault_rate, timeout_fault_s=0.05) as http:
        research = research_token(http)
        assert http.post("/_sim/stats/reset").status_code == 200
        sends: dict[str, Callable[[], httpx.Response]] = {
            "tikapi23": lambda: http.get(
                "/api/user/info", params={"uniqueId": "tt_user_0001"}, headers=RAPID
            ),
            "tikwm": lambda: http.get(
                "/user/info", params={"unique_id": "tt_user_0001"}, headers=RAPID
            ),
            "research": lambda: http.post(
                "/v2/research/user/info/?fields=display_name",
                json={"username": "tt_user_0001"},
                headers=research,
            ),
        }
        expected = {"5xx", "timeout", "drop", "malformed", "200"}
        seen: dict[str, Counter[str]] = {}
        for name, send in sends.items():
            kinds: Counter[str] = Counter()
            for _ in range(120):
                kinds[_classify(send)] += 1
                wanted = expected | ({"internal_error"} if name == "research" else set())
                if set(kinds) >= wanted:
                    break
            seen[name] = kinds
        assert set(seen["tikapi23"]) == set(seen["tikwm"]) == expected, seen
        assert set(seen["research"]) == expected | {"internal_error"}, seen
        stats = http.get("/_sim/stats").json()
        assert stats["faults"]["malformed"] == sum(k["malformed"] for k in seen.values())
        assert stats["faults"]["5xx"] == sum(k["5xx"] + k["internal_error"] for k in seen.values())
        assert http.get("/_sim/truth/tiktok").status_code == 200, "/_sim is spared"


def test_zero_accounts_is_no_tiktok_at_all() -> None:
    """``tiktok_accounts=0`` (``--tiktok-accounts 0``): no creator, no giant, no missing name."""
    world = World(WorldConfig(seed=5, tiktok_accounts=0))
    assert world.tiktok.creators == [] and world.tiktok.missing == []
    assert World(WorldConfig(seed=5, tiktok_accounts=1)).tiktok.find_username("tt_giant")
