"""Reading provider payloads: ids as strings, counts as ints, shapes checked.

A payload that is well-formed JSON but not what the API promises raises a BAD_PAYLOAD
:class:`ProviderError` naming the field, never a KeyError deep in a sync.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from smcore.providers.errors import ErrorKind, ProviderError
from smcore.providers.models import Page, Record

# Each page parser returns (items, next cursor, has more).
PageParts = tuple[list[Any], str | None, bool]


def bad(message: str) -> ProviderError:
    return ProviderError(ErrorKind.BAD_PAYLOAD, message)


def ext_id(value: Any, what: str) -> str:
    """An id as a string. Floats are refused: a float has already lost the id's last digits."""
    if isinstance(value, bool) or value is None:
        raise bad(f"{what}: missing id")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise bad(f"{what}: id {value!r} is not a string or an integer")


def obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad(f"{what}: expected an object, got {type(value).__name__}")
    return value


def items_of(payload: dict[str, Any], key: str, what: str) -> list[dict[str, Any]]:
    value = payload.get(key)
    if not isinstance(value, list):
        raise bad(f"{what}: '{key}' is missing or not a list")
    return [obj(v, f"{what}.{key}[]") for v in value]


def count(value: Any) -> int | None:
    if isinstance(value, dict):
        value = value.get("count")
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad(f"count {value!r} is not a number") from None


def unix_time(value: Any, what: str) -> datetime:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError, OverflowError):
        raise bad(f"{what}: {value!r} is not a unix time") from None


R = TypeVar("R", bound=Record)


def build(model: type[R], what: str, **fields: Any) -> R:
    """The record; its fields were checked by the helpers above as they were read."""
    try:
        return model(**fields)
    except TypeError as exc:  # a field the model does not have: our bug, said plainly
        raise bad(f"{what}: {exc}") from None


def text(value: Any, what: str) -> str:
    """A required string field."""
    if not isinstance(value, str):
        raise bad(f"{what}: expected a string, got {type(value).__name__}")
    return value


def opt_text(value: Any, what: str) -> str | None:
    """An optional string field (empty strings become None)."""
    if value is None or value == "":
        return None
    return text(value, what)


def answered(
    provider: str,
    method: str,
    payload: Any,
    parse: Callable[[], PageParts],
    request: dict[str, Any],
) -> Page[Any]:
    """The Page of one answered request (every adapter ends here).

    A payload that does not parse fails the call as bad_payload, the body kept for the raw layer.
    """
    try:
        items, end_cursor, has_more = parse()
    except ProviderError as exc:
        exc.provider, exc.method, exc.payload = provider, method, payload
        raise
    return Page(
        success=True,
        items=items,
        end_cursor=end_cursor if has_more else None,
        has_more=has_more,
        api_provider=provider,
        request=request,
        response=payload,
    )
