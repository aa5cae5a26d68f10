"""T-Bank (Tinkoff) acquiring: the request/notification signature ``Token``.

As T-Bank documents it (MAPI, section "Токен" / "Подпись запроса"): take the root-level
parameters only (nested objects and arrays such as ``DATA`` and ``Receipt`` do not take part),
add ``Password``, sort by key, concatenate the values, and take the SHA-256 of that UTF-8
string in hex. Values are written as JSON would print them bare: booleans ``true``/``false``,
numbers without quotes or exponent. ``Token`` itself is left out. A JSON ``null`` is left out
too (it concatenates as the empty string in T-Bank's reference PHP code).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

TOKEN = "Token"  # noqa: S105 - the name of a field, not a secret


def _value(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return value
    return None  # objects, arrays and null take no part


def token(fields: Mapping[str, Any], password: str) -> str:
    """The ``Token`` of a request or notification body signed with the terminal ``password``."""
    pairs = {k: s for k, v in fields.items() if k != TOKEN and (s := _value(v)) is not None}
    pairs["Password"] = password
    joined = "".join(pairs[key] for key in sorted(pairs))
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()


def verify(fields: Mapping[str, Any], password: str) -> bool:
    """Whether ``fields`` carry the right ``Token`` (compared in constant time)."""
    given = fields.get(TOKEN)
    if not isinstance(given, str):
        return False
    return hmac.compare_digest(given.lower().encode(), token(fields, password).encode())


class TBankError(Exception):
    """T-Bank did not do what was asked (transport failure or ``Success: false``)."""

    def __init__(self, message: str, *, error_code: str | None = None) -> None:
        super().__init__(message)
        self.error_code = error_code


@dataclass(frozen=True)
class Initiated:
    payment_id: str
    payment_url: str


class TBankClient:
    """The few MAPI calls we make, over an injected ``httpx.AsyncClient``."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        terminal_key: str,
        password: str,
        timeout_s: float = 15.0,
    ) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.terminal_key = terminal_key
        self.password = password
        self.timeout = httpx.Timeout(timeout_s, connect=5.0)

    async def call(self, method: str, fields: dict[str, Any]) -> dict[str, Any]:
        body = {"TerminalKey": self.terminal_key, **fields}
        body["Token"] = token(body, self.password)
        try:
            response = await self.http.post(
                f"{self.base_url}/{method}", json=body, timeout=self.timeout
            )
            answer: dict[str, Any] = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise TBankError(f"T-Bank {method} failed: {exc.__class__.__name__}") from exc
        if response.status_code != 200 or answer.get("Success") is not True:
            raise TBankError(
                f"T-Bank {method} refused: {answer.get('Message') or response.status_code}",
                error_code=str(answer.get("ErrorCode")),
            )
        return answer

    async def init(
        self,
        *,
        order_id: str,
        amount: int,
        description: str,
        customer_key: str,
        recurrent: bool,
        notification_url: str | None = None,
    ) -> Initiated:
        """Create a payment (``Init``); the customer pays at ``payment_url`` (SBP QR or card)."""
        fields: dict[str, Any] = {
            "Amount": amount,
            "OrderId": order_id,
            "Description": description,
            "CustomerKey": customer_key,
        }
        if recurrent:
            fields["Recurrent"] = "Y"
        if notification_url:
            fields["NotificationURL"] = notification_url
        answer = await self.call("Init", fields)
        return Initiated(str(answer["PaymentId"]), str(answer.get("PaymentURL", "")))

    async def charge_qr(self, *, payment_id: str, account_token: str) -> str:
        """Charge a bound SBP account for an initiated payment (autopay); T-Bank's status."""
        answer = await self.call(
            "ChargeQr", {"PaymentId": payment_id, "AccountToken": account_token}
        )
        return str(answer.get("Status", ""))
