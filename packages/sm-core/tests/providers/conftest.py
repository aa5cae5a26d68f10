"""A loopback HTTP server that replays genuine YouTube Data API v3 responses."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

REPLAY_KEY = "replay-key"
KEY_INVALID = "API key not valid. Please pass a valid API key."


@dataclass
class Replay:
    """What the replay server answers: (resource, selector, pageToken) → (status, fixture file)."""

    url: str
    key: str
    routes: dict[tuple[str, str, str], tuple[int, str]]
    requests: list[dict[str, list[str]]] = field(default_factory=list)


def _routes() -> dict[tuple[str, str, str], tuple[int, str]]:
    return {
        ("channels", "UC_x5XG1OV2P6uZZ5FSM9Ttw", ""): (200, "channel_info_single.json"),
        ("playlistItems", "PLOU2XLYxmsIKpaV8h0AGE05so0fAwwfTw", ""): (
            200,
            "playlist_items_playlist_items_paged_1.json",
        ),
        ("playlistItems", "PLOU2XLYxmsIKpaV8h0AGE05so0fAwwfTw", "CAoQAA"): (
            200,
            "playlist_items_playlist_items_paged_2.json",
        ),
        ("videos", "D-lhorsDlUQ,ovdbrdCIP7U", ""): (200, "videos_videos_info_multi.json"),
        ("commentThreads", "F1UP7wRCPH8", ""): (
            200,
            "comment_threads_comment_threads_by_video_paged_2.json",
        ),
        ("channels", "UC_quota_spent_0000000000", ""): (403, "error_quota_exceeded.json"),
        ("channels", "UC_no_permission_00000000", ""): (403, "error_permission_resp.json"),
    }


_SELECTOR = {
    "channels": "id",
    "playlistItems": "playlistId",
    "videos": "id",
    "commentThreads": "videoId",
}


@pytest.fixture
def youtube_replay(youtube_fixtures: Path) -> Iterator[Replay]:
    routes = _routes()
    seen: list[dict[str, list[str]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            seen.append(query)
            resource = parts.path.removeprefix("/youtube/v3/")
            key = (
                resource,
                query.get(_SELECTOR.get(resource, "id"), [""])[0],
                query.get("pageToken", [""])[0],
            )
            if query.get("key") != [REPLAY_KEY]:
                status, body = (
                    400,
                    json.dumps(
                        {
                            "error": {
                                "code": 400,
                                "message": KEY_INVALID,
                                "errors": [
                                    {
                                        "message": KEY_INVALID,
                                        "domain": "usageLimits",
                                        "reason": "keyInvalid",
                                    }
                                ],
                            }
                        }
                    ).encode(),
                )
            elif key in routes:
                status, name = routes[key]
                body = (youtube_fixtures / name).read_bytes()
            else:
                status, body = (
                    404,
                    b'{"error": {"code": 404, "message": "no recording", "errors": []}}',
                )
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Replay(f"http://127.0.0.1:{server.server_address[1]}", REPLAY_KEY, routes, seen)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
