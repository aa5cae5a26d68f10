"""Retries against a scripted provider on loopback: Retry-After honoured, never a tight loop."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from smcore.providers import Providers
from smcore.providers.errors import ErrorKind
from smcore.providers.transport import RetryPolicy
from smcore.settings import Settings

USER = {
    "id": "1234567890123456789",
    "username": "scripted",
    "full_name": "S",
    "edge_followed_by": {"count": 3},
    "edge_follow": {"count": 1},
    "edge_owner_to_timeline_media": {"count": 0},
}
OK = (
    200,
    {},
    {"status": "done", "response": {"status_code": 200, "body": {"data": {"user": USER}}}},
)


@dataclass
class Script:
    """Responses to give, in order (the last one repeats), and when each request came."""

    url: str = ""
    responses: list[tuple[int, dict[str, str], object]] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)


@pytest.fixture
def scripted() -> Iterator[Script]:
    script = Script()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                script.arrivals.append(time.monotonic())
                status, headers, body = (
                    script.responses.pop(0) if len(script.responses) > 1 else script.responses[0]
                )
            data = json.dumps(body).encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    script.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield script
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def rocket(url: str, policy: RetryPolicy) -> Providers:
    settings = Settings(
        rocket_api_host=url, rocket_api_key="k", instagram_provider_priority="rocket"
    )  # type: ignore[arg-type]
    return Providers.from_settings(settings, policy=policy)


async def test_retry_after_zero_is_no_tight_loop(scripted: Script) -> None:
    too_many = (429, {"Retry-After": "0"}, {"detail": "Too many requests"})
    scripted.responses = [too_many, too_many, too_many, OK]
    policy = RetryPolicy(base_delay_s=0.1)
    async with rocket(scripted.url, policy) as providers:
        page = await providers.instagram.user_info(username="scripted")
    assert page.success and page.item is not None and page.item.ext_id == USER["id"]
    gaps = [b - a for a, b in zip(scripted.arrivals, scripted.arrivals[1:], strict=False)]
    assert len(gaps) == 3
    # Exponential with equal jitter: at least half of base * 2^n, growing.
    for n, gap in enumerate(gaps, start=1):
        assert gap >= 0.1 * 2**n / 2 - 0.01, gaps


async def test_retry_after_seconds_are_honoured(scripted: Script) -> None:
    scripted.responses = [(429, {"Retry-After": "1"}, {"detail": "slow down"}), OK]
    async with rocket(scripted.url, RetryPolicy(base_delay_s=0.01)) as providers:
        page = await providers.instagram.user_info(username="scripted")
    assert page.success
    assert scripted.arrivals[1] - scripted.arrivals[0] >= 0.99


async def test_a_long_retry_after_gives_up_instead_of_sleeping(scripted: Script) -> None:
    scripted.responses = [(429, {"Retry-After": "3600"}, {"detail": "come back in an hour"})]
    started = time.monotonic()
    async with rocket(scripted.url, RetryPolicy(max_wait_s=30)) as providers:
        page = await providers.instagram.user_info(username="scripted")
    assert time.monotonic() - started < 5
    assert not page.success and page.error is not None
    assert page.error.kind is ErrorKind.RATE_LIMITED
    assert page.error.retry_after_s == 3600
    assert len(scripted.arrivals) == 1


async def test_server_errors_retry_then_fail_with_transient(scripted: Script) -> None:
    scripted.responses = [(503, {}, {"detail": "unavailable"})]
    async with rocket(scripted.url, RetryPolicy(max_attempts=3, base_delay_s=0.01)) as providers:
        page = await providers.instagram.user_info(username="scripted")
    assert not page.success and page.error is not None
    assert page.error.kind is ErrorKind.TRANSIENT and page.error.status == 503
    assert len(scripted.arrivals) == 3


async def test_ids_never_pass_through_floats(scripted: Script) -> None:
    """A pk that a float already rounded is refused; an exact integer or string is kept."""
    user = {**USER, "id": 1.2345678901234568e18}
    scripted.responses = [
        (
            200,
            {},
            {"status": "done", "response": {"status_code": 200, "body": {"data": {"user": user}}}},
        )
    ]
    async with rocket(scripted.url, RetryPolicy()) as providers:
        page = await providers.instagram.user_info(username="scripted")
    assert not page.success and page.error is not None
    assert page.error.kind is ErrorKind.BAD_PAYLOAD
    assert "id" in page.error.message
    assert page.response is not None, "the raw body is kept with the failure"
