"""Reading provider payloads: ids as strings, counts as ints, shapes checked.

A payload that is well-formed JSON but not what the API promises raises a BAD_PAYLOAD
:class:`ProviderError` naming the field, never a KeyError deep in a sync.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from smcore.providers.errors import ErrorKind, ProviderError
from smcore.providers.models import Page, Record, Rejected

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


def without_nul(value: Any) -> Any:
    """``value`` with every NUL character removed from its strings, keys included, at any depth.

    PostgreSQL refuses NUL in ``text`` and ``jsonb`` alike; some providers (TikTok) send it.
    """
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_nul(v) for v in value]
    return value


def opt_text(value: Any, what: str) -> str | None:
    """An optional string field (empty strings become None)."""
    if value is None or value == "":
        return None
    return text(value, what)


def each(raws: list[dict[str, Any]], parse: Callable[[dict[str, Any]], R]) -> list[R | Rejected]:
    """Parse a page's items one by one: a malformed item becomes a :class:`Rejected` (its raw
    payload and the reason) instead of failing the whole page."""
    out: list[R | Rejected] = []
    for raw in raws:
        try:
            out.append(parse(raw))
        except ProviderError as exc:
            out.append(Rejected(raw=raw, reason=exc.message, ext_id=_loose_id(raw)))
    return out


def _loose_id(raw: dict[str, Any]) -> str | None:
    for key in ("pk_id", "pk", "id", "cid", "video_id", "aweme_id"):
        value = raw.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return None


def answered(
    provider: str,
    method: str,
    payload: Any,
    parse: Callable[[], PageParts],
    request: dict[str, Any],
    *,
    served_at: datetime | None = None,
) -> Page[Any]:
    """The Page of one answered request (every adapter ends here).

    A payload whose page does not parse (no item list, a bad cursor) fails the call as
    bad_payload, the body kept for the raw layer; single malformed items are set aside in
    ``rejected`` and the rest of the page stands.
    """
    try:
        parsed, end_cursor, has_more = parse()
    except ProviderError as exc:
        exc.provider, exc.method, exc.payload = provider, method, payload
        raise
    return Page(
        success=True,
        items=[i for i in parsed if not isinstance(i, Rejected)],
        rejected=[i for i in parsed if isinstance(i, Rejected)],
        end_cursor=end_cursor if has_more else None,
        has_more=has_more,
        api_provider=provider,
        request=request,
        response=payload,
        served_at=served_at,
    )
