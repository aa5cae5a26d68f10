"""Every list as a file: ``?format=csv|parquet`` on the list routes, and ``sm-core export``.

A list is a :class:`Source`: its item model (the JSON page's item: its fields are the file's
columns, in order), how to read one keyset page of it, and how a row becomes an item. A file is
the *whole* list under the route's filters: :func:`items` walks its keyset pages (``limit``
and ``cursor`` do not apply) and :func:`csv_chunks` / :func:`parquet_chunks` turn each page into
bytes as it comes, so neither side ever holds the whole list.

Cells: CSV holds the JSON value as text (times ISO 8601 as the JSON has them, ``true`` /
``false``, an empty cell for null, nested objects and lists as compact JSON); Parquet keeps
integers, floats, booleans and times (UTC, microseconds) typed, and nested ones as JSON text.
"""

from __future__ import annotations

import csv
import io
import json
import types
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, Literal, TypeVar, Union, get_args, get_origin

import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no py.typed
import pyarrow.parquet as pq  # type: ignore[import-untyped]  # pyarrow ships no py.typed
from fastapi import Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from smcore.api.deps import keyset_page, parse_cursor


class Format(StrEnum):
    """How a list route answers."""

    JSON = "json"
    CSV = "csv"
    PARQUET = "parquet"


MEDIA_TYPES = {Format.CSV: "text/csv", Format.PARQUET: "application/vnd.apache.parquet"}

FORMAT: Any = Query(
    alias="format",
    description="json: this page (the default); csv or parquet: the whole list under the same "
    "filters as a file, streamed (limit and cursor do not apply)",
)
"""The ``format`` query parameter of a list route."""

PAGE_ROWS = 1000
"""Rows read per keyset page, and per CSV chunk and Parquet row group, of a file."""

Read = Callable[[AsyncConnection, tuple[int, int] | None, int], Awaitable[Sequence[dict[str, Any]]]]
"""One keyset page: ``(conn, after, limit)`` to up to ``limit`` rows, each with its
``sort_key`` and ``id``."""


Item = TypeVar("Item", bound=BaseModel)


@dataclass(frozen=True)
class Source(Generic[Item]):
    """A list a route pages through as JSON and writes whole as a file.

    Attributes:
        model: the JSON page's item model (the file's columns are its fields, in order).
        read: one keyset page of rows.
        item: a row as an item.
        name: the file's name without its extension.
    """

    model: type[Item]
    read: Read
    item: Callable[[dict[str, Any]], Item]
    name: str

    async def page(
        self, conn: AsyncConnection, cursor: tuple[int, int] | None, limit: int
    ) -> tuple[list[Item], str | None]:
        """One JSON page: up to ``limit`` items after ``cursor``, and the next page's cursor."""
        rows, next_cursor = keyset_page(await self.read(conn, cursor, limit + 1), limit)
        return [self.item(r) for r in rows], next_cursor


def responses(*others: dict[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    """A list route's documented answers: ``others`` and the file media types of 200."""
    merged: dict[int | str, dict[str, Any]] = {}
    for other in others:
        merged |= other
    merged[200] = {
        "description": "A page as JSON; with format csv or parquet, the whole list as a file",
        "content": {
            MEDIA_TYPES[Format.CSV]: {"schema": {"type": "string"}},
            MEDIA_TYPES[Format.PARQUET]: {"schema": {"type": "string", "format": "binary"}},
        },
    }
    return merged


async def items(
    conn: AsyncConnection, source: Source[Any], *, page_rows: int | None = None
) -> AsyncIterator[list[BaseModel]]:
    """The whole list, a keyset page (``page_rows``, default :data:`PAGE_ROWS`) at a time."""
    after: tuple[int, int] | None = None
    while True:
        page, cursor = await source.page(conn, after, page_rows or PAGE_ROWS)
        if page:
            yield page
        if cursor is None:
            return
        after = parse_cursor(cursor)


def columns(model: type[BaseModel]) -> list[str]:
    """A file's columns: the item model's fields, in order."""
    return list(model.model_fields)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


async def csv_chunks(
    model: type[BaseModel], pages: AsyncIterator[list[BaseModel]]
) -> AsyncIterator[bytes]:
    """CSV (UTF-8, a header row), a chunk per page."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    names = columns(model)
    writer.writerow(names)
    async for page in pages:
        for item in page:
            values = item.model_dump(mode="json")
            writer.writerow([_cell(values[n]) for n in names])
        yield out.getvalue().encode()
        out.seek(0)
        out.truncate()
    if out.tell():
        yield out.getvalue().encode()


def _plain(annotation: Any) -> Any:
    """``X`` of ``X | None``."""
    if get_origin(annotation) in {Union, types.UnionType}:
        kept = [a for a in get_args(annotation) if a is not type(None)]
        if len(kept) == 1:
            return kept[0]
    return annotation


def _arrow_type(annotation: Any) -> pa.DataType:
    kind = _plain(annotation)
    if get_origin(kind) is Literal:
        kind = type(get_args(kind)[0])
    if kind is bool:
        return pa.bool_()
    if kind is int:
        return pa.int64()
    if kind is float:
        return pa.float64()
    if kind is datetime:
        return pa.timestamp("us", tz="UTC")
    return pa.string()  # text, enums, and nested objects as JSON text


def schema(model: type[BaseModel]) -> pa.Schema:
    """The Parquet schema of a model's items (every column nullable)."""
    return pa.schema(
        [pa.field(n, _arrow_type(f.annotation)) for n, f in model.model_fields.items()]
    )


def _record(item: BaseModel, target: pa.Schema) -> dict[str, Any]:
    plain, jsonable = item.model_dump(), item.model_dump(mode="json")
    record: dict[str, Any] = {}
    for field in target:
        value = plain[field.name]
        if pa.types.is_string(field.type) and value is not None and not isinstance(value, str):
            value = _cell(jsonable[field.name])
        record[field.name] = value
    return record


class _Drain:
    """A file-like object pyarrow writes to; :meth:`take` hands over what it wrote so far."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.position = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        self.buffer += data
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        out = bytes(self.buffer)
        self.buffer.clear()
        return out


async def parquet_chunks(
    model: type[BaseModel], pages: AsyncIterator[list[BaseModel]]
) -> AsyncIterator[bytes]:
    """Parquet, a row group per page, each sent as soon as it is written."""
    target = schema(model)
    sink = _Drain()
    writer = pq.ParquetWriter(sink, target, compression="zstd")
    try:
        async for page in pages:
            table = pa.Table.from_pylist([_record(i, target) for i in page], schema=target)
            writer.write_table(table)
            yield sink.take()
    finally:
        writer.close()
    yield sink.take()


def chunks(
    fmt: Format, model: type[BaseModel], pages: AsyncIterator[list[BaseModel]]
) -> AsyncIterator[bytes]:
    """The file's bytes in ``fmt`` (csv or parquet)."""
    if fmt is Format.CSV:
        return csv_chunks(model, pages)
    return parquet_chunks(model, pages)


def response(fmt: Format, source: Source[Any], engine: AsyncEngine) -> StreamingResponse:
    """The whole list of ``source`` as a streamed file (``fmt``: csv or parquet)."""

    async def body() -> AsyncIterator[bytes]:
        async with engine.connect() as conn:
            async for chunk in chunks(fmt, source.model, items(conn, source)):
                yield chunk

    return StreamingResponse(
        body(),
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{source.name}.{fmt.value}"'},
    )
