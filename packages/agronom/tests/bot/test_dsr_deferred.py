"""/delete_me when the object store is down: the API records the request (202) and the bot
says the deletion will finish later, instead of claiming it is done."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto.server import ThreadedMotoServer

from agronom.bot.handlers import DELETE_SCHEDULED, DELETED
from agronom.settings import Settings
from agronom.store import objects as storage
from agrosim import photos
from agrosim.server import free_port

from ..conftest import on_s3  # noqa: TID252
from .conftest import Bench  # noqa: TID252


@pytest.fixture
def s3_server() -> Iterator[ThreadedMotoServer]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def store(settings: Settings, s3_server: ThreadedMotoServer) -> storage.ObjectStore:
    """This module's API stores objects through the S3 API (a moto server on loopback)."""
    host, port = s3_server.get_host_and_port()
    s3 = on_s3(settings, f"http://{host}:{port}", "agronom-bot-dsr")
    return await storage.from_settings(s3)


async def test_a_deferred_deletion_is_announced_as_deferred(
    bench: Bench, sql, vision, s3_server: ThreadedMotoServer
) -> None:
    chat = bench.chat(5020)
    await chat.photo(photos.leaf())
    s3_server.stop()  # the object store goes away
    await chat.say("/delete_me")
    await chat.press("dsr:confirm", "cb-confirm")
    text = bench.telegram.sent()[-1]["text"]
    assert text == DELETE_SCHEDULED and text != DELETED
    assert sql.one("SELECT count(*) FROM users WHERE tg_id = 5020") == 1, "kept for the sweep"
    assert sql.one("SELECT count(*) FROM events WHERE event = 'dsr_requested'") == 1
