"""Cursors are opaque, bound to their API, stream and owner, and may expire."""

from __future__ import annotations

import pytest

from socialsim.cursors import CursorError, Cursors


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_cursor_reads_back_its_position() -> None:
    cursors = Cursors(seed=1)
    cursor = cursors.issue("rocket", "followers", "123", 4567)
    assert "4567" not in cursor and "rocket" not in cursor
    assert cursors.read(cursor, "rocket", "followers", "123") == 4567


def test_cursors_do_not_depend_on_time_unless_they_expire() -> None:
    assert Cursors(1).issue("youtube", "playlistItems", "UUx", 5) == Cursors(1).issue(
        "youtube", "playlistItems", "UUx", 5
    )


@pytest.mark.parametrize(
    ("api", "stream", "owner"),
    [("scraper", "followers", "123"), ("rocket", "following", "123"), ("rocket", "followers", "9")],
)
def test_a_cursor_is_refused_by_another_api_stream_or_owner(
    api: str, stream: str, owner: str
) -> None:
    cursors = Cursors(seed=1)
    cursor = cursors.issue("rocket", "followers", "123", 10)
    with pytest.raises(CursorError) as error:
        cursors.read(cursor, api, stream, owner)
    assert not error.value.expired


@pytest.mark.parametrize("cursor", ["", "abc", "QVFE%%%", "cm9ja2V0fGZvbGxvd2Vyc3wxMjN8MTA"])
def test_malformed_or_forged_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(CursorError):
        Cursors(seed=1).read(cursor, "rocket", "followers", "123")


def test_a_cursor_of_another_seed_is_refused() -> None:
    cursor = Cursors(seed=2).issue("rocket", "followers", "123", 10)
    with pytest.raises(CursorError):
        Cursors(seed=1).read(cursor, "rocket", "followers", "123")


def test_cursors_expire_after_their_ttl() -> None:
    clock = FakeClock()
    cursors = Cursors(seed=1, ttl_s=20, wall_clock=clock)
    cursor = cursors.issue("rocket", "media", "123", 3)
    clock.now += 19.9
    assert cursors.read(cursor, "rocket", "media", "123") == 3
    clock.now += 0.2
    with pytest.raises(CursorError) as error:
        cursors.read(cursor, "rocket", "media", "123")
    assert error.value.expired
