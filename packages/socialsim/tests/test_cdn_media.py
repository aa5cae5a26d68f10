"""The CDN: media URLs in every payload point at the simulator, serve real JPEG and MP4 bytes
that match their truth, expire on the simulated clock and refuse tampering; captions carry
the truth's language and mentions."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any
from urllib.parse import parse_qs, urlsplit

import av
import httpx
import pytest
from PIL import Image

from socialsim.media import TEXT_WORDS
from socialsim.testing import RunningSim, serve
from socialsim.world.captions import LANGUAGES
from socialsim.world.clock import SIM_START

OPTIONS: dict[str, Any] = {"seed": 5, "profiles": 30, "channels": 3, "tiktok_accounts": 6}
ROCKET = {"Authorization": "Token sim-key"}
RAPID = {"x-rapidapi-key": "sim-key"}
TTL_S = 72 * 3600


class Client:
    """Calls a simulator's APIs and its CDN."""

    def __init__(self, sim: RunningSim) -> None:
        self.sim = sim
        self.http = httpx.Client(base_url=sim.url, timeout=30)

    def rocket(self, method: str, **body: Any) -> dict[str, Any]:
        response = self.http.post(f"/instagram/{method}", json=body, headers=ROCKET)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()["response"]["body"]
        return result

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(path, params=params, headers=RAPID)
        assert response.status_code == 200, response.text
        return response.json()

    def truth(self, url: str) -> dict[str, Any]:
        result: dict[str, Any] = self.get("/_sim/truth/media", url=url)
        return result

    def feed(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """A public profile's truth and its first feed page, one holding a video and a
        carousel."""
        for entry in self.get("/_sim/truth/instagram")["profiles"]:
            if entry["exists"] and not entry["is_private"]:
                items = self.rocket("user/get_media", id=entry["ext_id"])["items"]
                kinds = {item["media_type"] for item in items}
                if {2, 8} <= kinds:
                    return self.get(f"/_sim/truth/instagram/{entry['username']}"), items
        raise AssertionError("no public profile with a video and a carousel on its first page")


@pytest.fixture(scope="module")
def sims() -> Iterator[list[Client]]:
    """Three simulators of one world, started side by side (a start mostly waits on imports):
    two whose clocks never move, and one whose URLs live an hour, for the test that moves its
    clock."""
    managers = [serve(**OPTIONS), serve(**OPTIONS), serve(**OPTIONS, cdn_ttl_hours=1)]
    with ThreadPoolExecutor(len(managers)) as pool:
        starts = [pool.submit(manager.__enter__) for manager in managers]
    with ExitStack() as stack:
        started = []
        for manager, start in zip(managers, starts, strict=True):
            if start.exception() is None:
                stack.push(manager.__exit__)
                started.append(Client(start.result()))
        for start in starts:
            start.result()  # raises the first start's failure, once the others are stopped
        yield started


@pytest.fixture(scope="module")
def pair(sims: list[Client]) -> tuple[Client, Client]:
    return sims[0], sims[1]


@pytest.fixture(scope="module")
def client(sims: list[Client]) -> Client:
    return sims[0]


def _urls(item: dict[str, Any]) -> list[str]:
    urls = [c["url"] for c in item["image_versions2"]["candidates"]]
    return urls + [v["url"] for v in item.get("video_versions", [])]


def _image(content: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(content))
    image.load()
    assert image.format == "JPEG"
    return image


def _video(content: bytes) -> dict[str, Any]:
    with av.open(io.BytesIO(content)) as container:
        assert container.format.name.startswith("mov,mp4")
        video = container.streams.video[0]
        frames = sum(1 for _ in container.decode(video=0))
        return {
            "codec": video.codec_context.name,
            "width": video.width,
            "height": video.height,
            "frames": frames,
            "seconds": frames / float(video.average_rate or 1),
            "audio": [s.codec_context.name for s in container.streams.audio],
        }


def test_instagram_urls_point_at_the_simulator_and_serve_what_the_payload_and_truth_say(
    client: Client,
) -> None:
    _, items = client.feed()
    carousel = next(item for item in items if item["media_type"] == 8)
    video = next(item for item in items if item["media_type"] == 2)
    for item in [*items, *carousel["carousel_media"]]:
        for url in _urls(item):
            parts = urlsplit(url)
            query = parse_qs(parts.query)
            assert url.startswith(f"{client.sim.url}/cdn/ig/v/t51.2885-15/{item['pk']}_")
            assert re.fullmatch("[0-9A-F]{8}", query["oe"][0])
            assert int(query["oe"][0], 16) == SIM_START + TTL_S
            assert query["oh"][0].startswith("00_")
    child = carousel["carousel_media"][0]
    for candidate in [
        *video["image_versions2"]["candidates"],
        child["image_versions2"]["candidates"][0],
    ]:
        image = _image(client.http.get(candidate["url"]).content)
        assert image.size == (candidate["width"], candidate["height"])
        truth = client.truth(candidate["url"])
        assert (truth["kind"], truth["width"], truth["height"]) == ("image", *image.size)
        assert truth["duration_s"] is None and truth["audio"] is False
    version = video["video_versions"][0]
    response = client.http.get(version["url"])
    assert response.headers["content-type"] == "video/mp4"
    served = _video(response.content)
    truth = client.truth(version["url"])
    assert served["codec"] == "h264" and max(served["width"], served["height"]) <= 480
    assert (served["width"], served["height"]) == (version["width"], version["height"])
    assert (truth["kind"], truth["width"], truth["height"]) == ("video", 272, 480)
    assert 2 <= served["seconds"] <= 4
    assert served["seconds"] == pytest.approx(truth["duration_s"], abs=0.01)
    assert served["audio"] == (["aac"] if truth["audio"] else [])
    assert truth["media_id"] == video["pk"] and truth["platform"] == "instagram"
    assert truth["expires_at"] == "2026-01-04T00:00:00Z"
    # A carousel's own picture is its first child's.
    own = client.http.get(carousel["image_versions2"]["candidates"][0]["url"]).content
    assert own == client.http.get(child["image_versions2"]["candidates"][0]["url"]).content


def test_stories_and_highlight_stories_are_served_too(client: Client) -> None:
    for entry in client.get("/_sim/truth/instagram")["profiles"]:
        if not entry["exists"] or entry["is_private"]:
            continue
        truth = client.get(f"/_sim/truth/instagram/{entry['username']}")
        if truth["stories"] and truth["highlights"]:
            break
    else:
        raise AssertionError("no public profile with live stories and highlights")
    reels = client.rocket("user/get_stories", ids=[truth["profile"]["ext_id"]])["reels_media"]
    highlight = f"highlight:{truth['highlights'][0]['ext_id']}"
    reels += client.rocket("highlight/get_stories", ids=[highlight])["reels_media"]
    for reel in reels:
        story = reel["items"][0]
        candidate = story["image_versions2"]["candidates"][0]
        assert candidate["url"].startswith(client.sim.url + "/cdn/ig/")
        assert _image(client.http.get(candidate["url"]).content).size == (272, 480)
        assert client.truth(candidate["url"])["media_id"] == story["pk"]


def test_tiktok_and_youtube_urls_serve_videos_covers_and_thumbnails(client: Client) -> None:
    account = next(
        a
        for a in client.get("/_sim/truth/tiktok")["accounts"]
        if a["exists"] and not a["is_private"]
    )
    item = client.get("/api/user/posts", secUid=account["sec_uid"], count=5)["itemList"][0]
    play, cover = item["video"]["playAddr"], item["video"]["cover"]
    assert play.startswith(f"{client.sim.url}/cdn/tt/video/tos/useast5/{item['id']}/?")
    query = parse_qs(urlsplit(play).query)
    assert int(query["x-expires"][0]) == SIM_START + TTL_S and query["x-signature"][0]
    served = _video(client.http.get(play).content)
    assert (served["width"], served["height"]) == (item["video"]["width"], item["video"]["height"])
    assert _image(client.http.get(cover).content).size == (272, 480)
    assert client.truth(cover)["kind"] == "image" and client.truth(play)["kind"] == "video"
    tikwm = client.get("/user/posts", unique_id=account["username"], count=5)["data"]["videos"]
    assert tikwm[0]["play"] == play and tikwm[0]["wmplay"] == play + "&watermark=1"
    assert client.http.get(tikwm[0]["wmplay"]).content == client.http.get(play).content

    channel = client.get("/_sim/truth/youtube")["channels"][0]
    page = client.get(
        "/youtube/v3/playlistItems",
        key="sim-key",
        part="snippet",
        playlistId=channel["uploads_playlist_id"],
    )
    thumbnails = page["items"][0]["snippet"]["thumbnails"]
    high = thumbnails["high"]["url"]
    video_id = page["items"][0]["snippet"]["resourceId"]["videoId"]
    assert high == f"{client.sim.url}/cdn/yt/vi/{video_id}/hqdefault.jpg"
    for name in ("default", "high", "maxres"):
        size = (thumbnails[name]["width"], thumbnails[name]["height"])
        assert _image(client.http.get(thumbnails[name]["url"]).content).size == size
    assert client.truth(high)["expires_at"] is None


def test_the_bytes_and_the_plans_are_the_same_on_two_servers_of_one_seed(
    pair: tuple[Client, Client],
) -> None:
    one, two = pair
    _, items = one.feed()
    urls = [u for item in items for u in _urls(item) if "_n.jpg" in u or "_v.mp4" in u]
    for url in urls[:6]:
        path = urlsplit(url)
        other = f"{two.sim.url}{path.path}?{path.query}"
        assert one.http.get(url).content == two.http.get(other).content
        assert one.truth(url) == two.truth(other)


def test_plans_cover_every_content_and_say_what_is_drawn(client: Client) -> None:
    seen: dict[str, int] = {}
    for entry in client.get("/_sim/truth/instagram")["profiles"][:12]:
        if not entry["exists"] or entry["is_private"]:
            continue
        for item in client.rocket("user/get_media", id=entry["ext_id"])["items"]:
            truth = client.truth(item["image_versions2"]["candidates"][0]["url"])
            seen[truth["content"]] = seen.get(truth["content"], 0) + 1
            assert truth["face"] == (truth["content"] == "face")
            assert (truth["text"] is not None) == (truth["content"] == "text")
            if truth["text"] is not None:
                assert 1 <= len(truth["text"].split()) <= 3
                assert set(truth["text"].split()) <= set(TEXT_WORDS)
            expected = {"face": {"person"}, "object": {"person", "bicycle"}}
            assert truth["object"] in expected.get(truth["content"], {None})
    assert set(seen) == {"face", "text", "object", "plain"}, seen


def test_a_url_works_until_the_simulated_clock_passes_its_expiry(sims: list[Client]) -> None:
    own = sims[2]
    client = own.http
    channel = own.get("/_sim/truth/youtube")["channels"][0]
    thumbnails = own.get(
        "/youtube/v3/playlistItems",
        key="sim-key",
        part="snippet",
        playlistId=channel["uploads_playlist_id"],
    )["items"][0]["snippet"]["thumbnails"]
    entry = next(
        p
        for p in own.get("/_sim/truth/instagram")["profiles"]
        if p["exists"] and not p["is_private"]
    )
    body = own.rocket("user/get_media", id=entry["ext_id"])
    url = body["items"][0]["image_versions2"]["candidates"][0]["url"]
    first = client.get(url)
    assert first.status_code == 200
    assert first.headers["cache-control"] == "max-age=3600"
    client.post("/_sim/clock", json={"advance_hours": 0.99})
    assert client.get(url).status_code == 200, "59 minutes after the API served it"
    client.post("/_sim/clock", json={"advance_hours": 0.01})
    expired = client.get(url)
    assert (expired.status_code, expired.text) == (403, "URL signature expired")
    body = own.rocket("user/get_media", id=entry["ext_id"])
    fresh = body["items"][0]["image_versions2"]["candidates"][0]["url"]
    assert fresh != url and client.get(fresh).content == first.content, "served again: new URL"
    assert client.get(thumbnails["high"]["url"]).status_code == 200, "thumbnails never expire"
    stats = own.get("/_sim/stats")
    assert stats["cdn"] == {"instagram": {"200": 3, "403": 1}, "youtube": {"200": 1}}
    assert stats["total"] == 3, "the API calls only: media downloads are counted apart"


def test_a_tampered_or_unknown_url_is_refused(client: Client) -> None:
    _, items = client.feed()
    photo = next(item for item in items if item["media_type"] != 2)
    url = photo["image_versions2"]["candidates"][0]["url"]
    path, query = url.split("?")
    oe = parse_qs(query)["oe"][0]
    later = f"{int(oe, 16) + 3600:08X}"
    refused = [
        url.replace("oh=00_", "oh=00_A"),
        url.replace(f"oe={oe}", f"oe={later}"),
        path,
        path.replace("_n.jpg", "_s.jpg") + "?" + query,
    ]
    for bad in refused:
        response = client.http.get(bad)
        assert (response.status_code, response.text) == (403, "Bad URL hash"), bad
    unknown = [
        path.replace(photo["pk"], str(int(photo["pk"]) + 1)) + "?" + query,
        path.replace("_n.jpg", "_v.mp4") + "?" + query,
        f"{client.sim.url}/cdn/yt/vi/AAAAAAAAAAA/hqdefault.jpg",
        f"{client.sim.url}/cdn/elsewhere.jpg",
    ]
    for bad in unknown:
        assert client.http.get(bad).status_code == 404, bad
    assert client.http.get("/_sim/truth/media", params={"url": unknown[0]}).status_code == 404
    account = next(a for a in client.get("/_sim/truth/tiktok")["accounts"] if a["exists"])
    item = client.get("/api/user/posts", secUid=account["sec_uid"], count=1)["itemList"]
    if item:
        cover = item[0]["video"]["cover"]
        response = client.http.get(cover.replace("x-signature=", "x-signature=x"))
        assert (response.status_code, response.text) == (403, "Bad URL hash")


def test_captions_carry_the_truths_language_and_mentions(client: Client) -> None:
    languages: set[str] = set()
    profiles = {p["username"] for p in client.get("/_sim/truth/instagram")["profiles"]}
    mentioned = 0
    for entry in client.get("/_sim/truth/instagram")["profiles"][:10]:
        if not entry["exists"] or entry["is_private"]:
            continue
        truth = client.get(f"/_sim/truth/instagram/{entry['username']}")
        posts = {p["ext_id"]: p for p in truth["posts"]}
        for item in client.rocket("user/get_media", id=entry["ext_id"])["items"]:
            post = posts[item["pk"]]
            if item["caption"] is None:
                assert (post["caption_language"], post["mentions"]) == (None, [])
                continue
            text = item["caption"]["text"]
            languages.add(post["caption_language"])
            assert re.findall(r"@([a-z0-9_]+)", text) == post["mentions"]
            assert set(post["mentions"]) <= profiles - {entry["username"]}
            mentioned += bool(post["mentions"])
            assert len(text.split()) >= 6
    assert mentioned and languages <= {code for code, _ in LANGUAGES} and len(languages) >= 2

    accounts = client.get("/_sim/truth/tiktok")["accounts"]
    creators = {a["username"] for a in accounts if a["exists"]}
    for account in accounts[:4]:
        truth = client.get(f"/_sim/truth/tiktok/{account['username']}")
        for video in truth["videos"][:10]:
            mentions = re.findall(r"@([a-z0-9_]+)", video["desc"])
            assert mentions == video["mentions"]
            assert set(mentions) <= creators - {account["username"]}
        item = client.get("/api/user/posts", secUid=account["sec_uid"], count=1)["itemList"]
        if item:
            served = next(v for v in truth["videos"] if v["ext_id"] == item[0]["id"])
            assert item[0]["textLanguage"] == served["caption_language"]

    channels = client.get("/_sim/truth/youtube")["channels"]
    handles = {c["handle"].removeprefix("@") for c in channels}
    for channel in channels:
        videos = client.get(f"/_sim/truth/youtube/{channel['channel_id']}")["videos"]
        page = client.get(
            "/youtube/v3/playlistItems",
            key="sim-key",
            part="snippet",
            playlistId=channel["uploads_playlist_id"],
            maxResults=10,
        )
        for video, item in zip(videos, page["items"], strict=False):
            description = item["snippet"]["description"]
            assert item["snippet"]["resourceId"]["videoId"] == video["ext_id"]
            assert re.findall(r"@([a-z0-9_]+)", description) == video["mentions"]
            assert video["caption_language"] in {code for code, _ in LANGUAGES}
            assert set(video["mentions"]) <= handles - {channel["handle"].removeprefix("@")}
