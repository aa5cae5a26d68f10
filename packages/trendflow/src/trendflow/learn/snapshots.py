"""The snapshot table: each video's views and likes observed at irregular times.

One row per observation (``platform, video_id, published_at, observed_at, views, likes`` and the
optional ``channel, caption, channel_followers``), read from a local ``.csv`` or ``.parquet``
file, or streamed from SM Core's CSV export over HTTP(S) (``X-API-Key`` header when a key is
given). Every row is validated before anything is grouped: times carry an offset, counts are
non-negative integers, nothing is observed before its video was published. Errors name the row
and say what to fix (:class:`SnapshotError`).

Rows group into one :class:`VideoHistory` per ``(platform, video_id)``, its observations sorted
by time; rows of the same ``observed_at`` collapse into one (a count given by several rows keeps
its largest value), and :class:`SourceInfo` says where the bytes came from and their sha256.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no py.typed
import pyarrow.parquet as pq  # type: ignore[import-untyped]  # pyarrow ships no py.typed

from trendflow.errors import InputError

REQUIRED_COLUMNS = ("platform", "video_id", "published_at", "observed_at", "views", "likes")
OPTIONAL_COLUMNS = ("channel", "caption", "channel_followers")
# SM Core's export: all columns above, streamed as text/csv.
EXPORT_PATH = "/api/v1/exports/post-metrics"
_ATTEMPTS = 3
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_MAX_RETRY_AFTER_S = 30.0

Kind = Literal["csv", "parquet"]
_T = TypeVar("_T")
_Fail = Callable[[str], "SnapshotError"]


class SnapshotError(InputError):
    """The snapshot table is unreachable, unreadable or invalid; the message says what to fix."""

    def __init__(self, where: str, problem: str) -> None:
        self.where = where
        self.problem = problem
        super().__init__(f"snapshot table {where}: {problem}")


@dataclass(frozen=True, slots=True)
class Observation:
    """One observation of a video's counts (``None``: that count was not observed then)."""

    observed_at: datetime  # tz-aware UTC
    views: int | None
    likes: int | None


@dataclass(frozen=True, slots=True)
class VideoHistory:
    """Every observation of one video, sorted by ``observed_at``, and what is known about it."""

    platform: str
    video_id: str
    published_at: datetime
    channel: str
    caption: str
    channel_followers: int | None
    observations: tuple[Observation, ...]  # sorted by observed_at

    def age_hours(self, when: datetime) -> float:
        """Hours from publication to ``when``."""
        return (when - self.published_at).total_seconds() / 3600.0


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """Where the table came from: path or URL, sha256 of the bytes read, and what they held."""

    where: str
    sha256: str
    rows: int
    videos: int
    duplicates: int  # rows merged into another row of the same video and observed_at

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict (recorded in targets' meta and dataset.json)."""
        return {
            "where": self.where,
            "sha256": self.sha256,
            "rows": self.rows,
            "videos": self.videos,
            "duplicates": self.duplicates,
        }


@dataclass(frozen=True, slots=True)
class _Row:
    label: str  # "line 7" / "row 6": where a message points the reader
    platform: str
    video_id: str
    published_at: datetime
    observed_at: datetime
    views: int | None
    likes: int | None
    channel: str
    caption: str
    channel_followers: int | None


def load_histories(
    source: str, *, api_key: str | None = None
) -> tuple[list[VideoHistory], SourceInfo]:
    """Read, validate and group a snapshot table.

    Args:
        source: a local ``.csv`` or ``.parquet`` path, or an ``http(s)://`` URL of SM Core's CSV
            export (a bare ``http://host:port`` gets the export path appended).
        api_key: sent as ``X-API-Key`` to a URL; ignored for files.

    Returns:
        The histories sorted by ``(platform, video_id)`` and the source's description.

    Raises:
        SnapshotError: the source cannot be read or a row is invalid.
    """
    data, where, kind = read_source(source, api_key=api_key)
    rows = parse_table(data, kind=kind, where=where)
    histories, duplicates = group_rows(rows, where=where)
    info = SourceInfo(
        where=where,
        sha256=hashlib.sha256(data).hexdigest(),
        rows=len(rows),
        videos=len(histories),
        duplicates=duplicates,
    )
    return histories, info


def read_source(
    source: str, *, api_key: str | None = None, client: httpx.Client | None = None
) -> tuple[bytes, str, Kind]:
    """The bytes of ``source``, where they came from, and their format.

    ``client`` is for callers that bring their own (timeouts, transport); by default one is made
    with a 10 s connect and 300 s read timeout.
    """
    if source.startswith(("http://", "https://")):
        url = _export_url(source)
        if client is not None:
            return _download(client, url, api_key), url, "csv"
        timeout = httpx.Timeout(300.0, connect=10.0)
        with httpx.Client(timeout=timeout, follow_redirects=True) as own:
            return _download(own, url, api_key), url, "csv"
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix not in {".csv", ".parquet"}:
        raise SnapshotError(
            source, "unknown format: give a .csv or .parquet file, or an http(s) URL"
        )
    try:
        data = path.read_bytes()
    except OSError as error:
        raise SnapshotError(source, f"cannot read the file ({error.strerror or error})") from error
    kind: Kind = "csv" if suffix == ".csv" else "parquet"
    return data, str(path), kind


def _export_url(source: str) -> str:
    parts = urlsplit(source)
    if parts.path in {"", "/"}:
        return urlunsplit(parts._replace(path=EXPORT_PATH))
    return source


def _download(client: httpx.Client, url: str, api_key: str | None) -> bytes:
    """GET ``url`` streamed; retry 429/5xx and timeouts (honouring Retry-After), 3 tries."""
    headers = {"Accept": "text/csv"}
    if api_key:
        headers["X-API-Key"] = api_key
    last = ""
    for attempt in range(1, _ATTEMPTS + 1):
        wait = float(attempt)
        try:
            with client.stream("GET", url, headers=headers) as response:
                if response.status_code in {401, 403}:
                    raise SnapshotError(
                        url,
                        f"HTTP {response.status_code}: the export needs a valid API key "
                        "(--api-key or TRENDFLOW_SMCORE_API_KEY)",
                    )
                if response.status_code in _RETRY_STATUS:
                    last = f"HTTP {response.status_code}"
                    wait = _retry_after(response.headers.get("Retry-After"), wait)
                elif response.status_code != 200:
                    raise SnapshotError(
                        url,
                        f"HTTP {response.status_code}: is this SM Core's export "
                        f"({EXPORT_PATH}?platform=...)?",
                    )
                else:
                    media = response.headers.get("Content-Type", "text/csv")
                    if "csv" not in media:
                        raise SnapshotError(
                            url, f"expected text/csv, got {media!r}: is this SM Core's export?"
                        )
                    return b"".join(response.iter_bytes())
        except httpx.TimeoutException as error:
            last = f"timed out ({type(error).__name__})"
        except httpx.TransportError as error:
            last = f"{type(error).__name__}: {error}"
        if attempt < _ATTEMPTS:
            time.sleep(wait)
    raise SnapshotError(url, f"failed after {_ATTEMPTS} tries, last: {last}; is SM Core up?")


def _retry_after(value: str | None, default: float) -> float:
    try:
        return min(max(float(value), 0.0), _MAX_RETRY_AFTER_S) if value else default
    except ValueError:
        return default


def parse_table(data: bytes, *, kind: Kind, where: str) -> list[_Row]:
    """Validate every row of a CSV or Parquet table (in its order)."""
    columns = _parquet_columns(data, where) if kind == "parquet" else _csv_columns(data, where)
    return [_row(label, values, where) for label, values in columns]


def _csv_columns(data: bytes, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise SnapshotError(
            where, f"not UTF-8 text ({error.reason} at byte {error.start})"
        ) from error
    reader = csv.DictReader(io.StringIO(text, newline=""))
    _check_header(list(reader.fieldnames or []), where)
    for record in reader:
        if None in record:
            raise SnapshotError(where, f"line {reader.line_num} has more fields than the header")
        yield f"line {reader.line_num}", record


def _parquet_columns(data: bytes, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        table = pq.read_table(io.BytesIO(data))
    except (pa.ArrowException, OSError) as error:
        raise SnapshotError(where, f"not a readable Parquet file ({error})") from error
    _check_header(table.column_names, where)
    for name in ("published_at", "observed_at"):
        kind = table.schema.field(name).type
        if pa.types.is_timestamp(kind) and kind.tz is None:
            raise SnapshotError(
                where,
                f"column {name!r} holds timestamps without a time zone: "
                "write them as timestamp[..., tz=UTC]",
            )
    names = [n for n in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if n in table.column_names]
    values = {name: table.column(name).to_pylist() for name in names}
    for index in range(table.num_rows):
        yield f"row {index + 1}", {name: values[name][index] for name in names}


def _check_header(columns: list[str], where: str) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise SnapshotError(
            where,
            f"missing column(s) {', '.join(missing)}; the table needs "
            f"{', '.join(REQUIRED_COLUMNS)} (optional: {', '.join(OPTIONAL_COLUMNS)})",
        )


def _row(label: str, values: dict[str, Any], where: str) -> _Row:
    def fail(problem: str) -> SnapshotError:
        return SnapshotError(where, f"{label}: {problem}")

    platform = _name(values.get("platform"), "platform", fail)
    video_id = _name(values.get("video_id"), "video_id", fail)
    published = _time(values.get("published_at"), "published_at", fail)
    observed = _time(values.get("observed_at"), "observed_at", fail)
    if observed < published:
        raise fail(
            f"observed_at {observed.isoformat()} is before published_at "
            f"{published.isoformat()}: fix the clock or drop the row"
        )
    caption = values.get("caption")
    return _Row(
        label=label,
        platform=platform,
        video_id=video_id,
        published_at=published,
        observed_at=observed,
        views=_count(values.get("views"), "views", fail),
        likes=_count(values.get("likes"), "likes", fail),
        channel=str(values.get("channel") or ""),
        caption="" if caption is None else str(caption),
        channel_followers=_count(values.get("channel_followers"), "channel_followers", fail),
    )


def _name(value: Any, column: str, fail: _Fail) -> str:
    text = "" if value is None else str(value).strip()
    if not text or "/" in text or text.startswith(".") or "\\" in text:
        raise fail(f"{column} {value!r} must be a non-empty id without '/' or a leading '.'")
    return text


def _time(value: Any, column: str, fail: _Fail) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise fail(
                f"{column} {value!r} is not an ISO-8601 time (e.g. 2025-03-01T12:00:00+00:00)"
            ) from None
    else:
        raise fail(f"{column} is empty; every row needs it")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise fail(
            f"{column} {value!s} has no UTC offset: write it as e.g. 2025-03-01T12:00:00+00:00"
        )
    return moment.astimezone(UTC)


def _count(value: Any, column: str, fail: _Fail) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, bool):
        raise fail(f"{column} {value!r} is not a count")
    number: int
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()):
        number = int(value.strip())
    else:
        raise fail(f"{column} {value!r} is not a whole number (leave it empty if unknown)")
    if number < 0:
        raise fail(f"{column} {number} is negative; counts are >= 0")
    return number


def history_of(records: Sequence[Mapping[str, Any]], *, where: str) -> VideoHistory:
    """One video's history from records with the snapshot table's columns (one video, one
    record per observation): the checks, the order and the merging of a file's rows.

    A prediction job's body reaches the same features as ``trendflow predict`` reading a file.
    """
    if not records:
        raise SnapshotError(where, "no observation: a history needs at least one")
    rows = [_row(f"observation {k + 1}", dict(r), where) for k, r in enumerate(records)]
    histories, _ = group_rows(rows, where=where)
    if len(histories) != 1:
        raise SnapshotError(where, "the observations name more than one video")
    return histories[0]


def group_rows(rows: Iterable[_Row], *, where: str) -> tuple[list[VideoHistory], int]:
    """One history per ``(platform, video_id)``; also the number of rows merged as duplicates."""
    by_video: dict[tuple[str, str], list[_Row]] = {}
    for row in rows:
        by_video.setdefault((row.platform, row.video_id), []).append(row)
    histories: list[VideoHistory] = []
    duplicates = 0
    for (platform, video_id), video_rows in sorted(by_video.items()):
        first = video_rows[0]
        for row in video_rows:
            if row.published_at != first.published_at:
                raise SnapshotError(
                    where,
                    f"{platform}/{video_id}: published_at differs between {first.label} "
                    f"({first.published_at.isoformat()}) and {row.label} "
                    f"({row.published_at.isoformat()}); a video has one publication time",
                )
        ordered = sorted(video_rows, key=lambda r: r.observed_at)  # stable: file order in ties
        observations: list[Observation] = []
        for row in ordered:
            if observations and observations[-1].observed_at == row.observed_at:
                duplicates += 1
                prior = observations[-1]
                observations[-1] = Observation(
                    row.observed_at,
                    _larger(prior.views, row.views),
                    _larger(prior.likes, row.likes),
                )
            else:
                observations.append(Observation(row.observed_at, row.views, row.likes))
        histories.append(
            VideoHistory(
                platform=platform,
                video_id=video_id,
                published_at=first.published_at,
                channel=_earliest(r.channel for r in ordered) or "",
                caption=_earliest(r.caption for r in ordered) or "",
                # Known at publication, so the first observation's (a later row may carry a
                # count from after the observation point).
                channel_followers=_earliest(r.channel_followers for r in ordered),
                observations=tuple(observations),
            )
        )
    return histories, duplicates


def _larger(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    return a if b is None else max(a, b)


def _earliest(values: Iterable[_T | None]) -> _T | None:
    """The first known (non-empty) value, rows in time order."""
    for value in values:
        if value is not None and value != "":
            return value
    return None
