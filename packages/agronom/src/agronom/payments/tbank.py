"""T-Bank internet acquiring (MAPI v2), as T-Bank's own OpenAPI document (v1.80) describes it.

The calls Pocket Agronomist makes, each a signed ``POST <base>/<Method>`` of a JSON object:

============================  ===============================================================
``Init``                      a payment (Amount in kopecks, our OrderId, a 54-FZ ``Receipt``);
                              for SBP autopay also ``Recurrent="Y"`` and ``DATA {"QR": "true"}``
``GetQr``                     the SBP link (NSPK payload) of an initiated payment; for a
                              recurrent+QR session also the ``RequestKey`` of the account link
                              made with it ("pay and link at once")
``AddAccountQr``              link a customer's SBP account without paying (no NotificationURL
                              in its schema: the link notice goes to the terminal's URL)
``GetAddAccountQrState``      a link's state: NEW → PROCESSING → ACTIVE | INACTIVE, AccountToken
``ChargeQr``                  charge an ACTIVE linked account (PaymentId of a recurrent+QR Init)
``Cancel``                    refund (CONFIRMED) or reversal (AUTHORIZED); partial with Amount
                              and a receipt of the refunded items
``GetState``                  a payment's status
============================  ===============================================================

SBP account tokens (``AccountToken``, from the link notice) and card rebill ids (``RebillId``,
card autopay through ``Charge``) are different things: this client has no card autopay and
never sends a ``RebillId``.

The document types ids inconsistently (``PaymentId`` a string in Init's answer, an integer in
GetQr's request, a number in notifications; ``RequestKey`` a number in AddAccountQr's answer, a
uuid string in the link notice): every id is read as a string or a number and kept as a string.

The ``Token`` (section "Токен"): the root-level parameters only (nested objects and arrays such
as ``DATA`` and ``Receipt`` do not take part), plus ``Password``, sorted by key, the values
concatenated, SHA-256 of that UTF-8 string in hex. Values are written as JSON prints them bare:
booleans ``true``/``false``, numbers without quotes or exponent; ``Token`` itself and JSON
``null`` are left out.

Exceptions::

    TBankError              T-Bank did not do what was asked
    ├── TBankUnavailable    no usable answer: transport failure, timeout, HTTP 5xx, not JSON
    │                       (transient: the same call may succeed later)
    └── TBankRefused        an answer with ``Success: false``: ``error_code``, ``details``
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

TOKEN = "Token"  # noqa: S105 - the name of a field, not a secret

Taxation = Literal["osn", "usn_income", "usn_income_outcome", "esn", "patent"]
Tax = Literal[
    "none", "vat0", "vat5", "vat7", "vat10", "vat20", "vat105", "vat107", "vat110", "vat120"
]
PaymentMethod = Literal[
    "full_prepayment",
    "prepayment",
    "advance",
    "full_payment",
    "partial_payment",
    "credit",
    "credit_payment",
]
NotificationKind = Literal["payment", "link", "card", "fiscalization"]

# Payment statuses the document lists (tag «Статусная модель платежа» and the SBP tables).
# T-Bank's set is open: an unknown status is kept as text, never a parse failure.
STATUSES = frozenset(
    {
        "NEW",
        "FORM_SHOWED",
        "AUTHORIZING",
        "3DS_CHECKING",
        "3DS_CHECKED",
        "AUTHORIZED",
        "PAY_CHECKING",
        "CONFIRMING",
        "CONFIRMED",
        "REVERSING",
        "PARTIAL_REVERSED",
        "REVERSED",
        "REFUNDING",
        "ASYNC_REFUNDING",
        "PARTIAL_REFUNDED",
        "REFUNDED",
        "CANCELED",
        "DEADLINE_EXPIRED",
        "ATTEMPTS_EXPIRED",
        "REJECTED",
        "AUTH_FAIL",
    }
)
LINK_STATUSES = frozenset({"NEW", "PROCESSING", "ACTIVE", "INACTIVE"})
# SBP takes 10 RUB to 1,000,000 RUB (error 3016 outside).
SBP_MIN_KOPECKS = 1_000
SBP_MAX_KOPECKS = 100_000_000
FFD_VERSION = "1.05"


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


def ident(value: Any) -> str | None:
    """An id as T-Bank sends it (string, integer or integral number) as our string; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str) and value:
        return value
    return None


def _number_or_text(value: str) -> int | str:
    """An id for a field the document types as a number: digits go as a JSON number."""
    return int(value) if value.isdigit() else value


def kind(body: Mapping[str, Any]) -> NotificationKind:
    """Which of the document's four notifications ``body`` is (they share one URL)."""
    if body.get("NotificationType") == "LINKACCOUNT":
        return "link"
    if body.get("Status") == "RECEIPT":
        return "fiscalization"
    if "RequestKey" in body and "CustomerKey" in body and "OrderId" not in body:
        return "card"
    return "payment"


# ---------------------------------------------------------------- 54-FZ receipt


@dataclass(frozen=True)
class ReceiptItem:
    """One position of an FFD 1.05 receipt (``Items_FFD_105``); money in kopecks.

    ``PaymentMethod`` and ``PaymentObject`` are optional in the schema but marked required in
    the document's prose table: always sent.
    """

    name: str
    price: int
    quantity: int
    tax: Tax
    payment_method: PaymentMethod = "full_payment"
    payment_object: str = "service"

    def __post_init__(self) -> None:
        if not 1 <= len(self.name) <= 128:
            raise ValueError("a receipt item's Name takes 1 to 128 characters")
        if self.price < 0 or self.quantity < 1:
            raise ValueError("a receipt item needs Price >= 0 and Quantity >= 1")

    @property
    def amount(self) -> int:
        return self.price * self.quantity

    def wire(self) -> dict[str, Any]:
        return {
            "Name": self.name,
            "Price": self.price,
            "Quantity": self.quantity,
            "Amount": self.amount,
            "Tax": self.tax,
            "PaymentMethod": self.payment_method,
            "PaymentObject": self.payment_object,
        }


@dataclass(frozen=True)
class Receipt:
    """A 54-FZ receipt (``Receipt_FFD_105``): taxation system, positions, the buyer's contact.

    The receipt goes to ``email`` or ``phone`` (the document: one of them is required).
    """

    taxation: Taxation
    items: tuple[ReceiptItem, ...]
    email: str | None = None
    phone: str | None = None

    def __post_init__(self) -> None:
        if not self.email and not self.phone:
            raise ValueError("a receipt needs the buyer's Email or Phone")
        if not 1 <= len(self.items) <= 100:
            raise ValueError("a receipt holds 1 to 100 items")

    @property
    def total(self) -> int:
        return sum(item.amount for item in self.items)

    def wire(self) -> dict[str, Any]:
        body: dict[str, Any] = {"FfdVersion": FFD_VERSION, "Taxation": self.taxation}
        if self.email:
            body["Email"] = self.email
        if self.phone:
            body["Phone"] = self.phone
        body["Items"] = [item.wire() for item in self.items]
        return body


# ---------------------------------------------------------------- errors


class TBankError(Exception):
    """T-Bank did not do what was asked."""

    def __init__(self, message: str, *, method: str, error_code: str | None = None) -> None:
        super().__init__(message)
        self.method = method
        self.error_code = error_code


class TBankUnavailable(TBankError):
    """No usable answer (transport failure, timeout, HTTP 5xx, a body that is not JSON)."""


class TBankRefused(TBankError):
    """T-Bank answered ``Success: false`` (``error_code`` as it sent it)."""

    def __init__(
        self, message: str, *, method: str, error_code: str, details: str | None = None
    ) -> None:
        super().__init__(message, method=method, error_code=error_code)
        self.details = details


# ---------------------------------------------------------------- answers


@dataclass(frozen=True)
class Initiated:
    """``Init``'s answer: the payment is ``NEW``."""

    payment_id: str
    status: str
    amount: int
    order_id: str
    payment_url: str | None


@dataclass(frozen=True)
class Qr:
    """``GetQr``'s answer: ``data`` is the NSPK link to open (PAYLOAD); ``request_key`` names
    the account link made with a recurrent+QR payment."""

    payment_id: str
    order_id: str
    data: str
    request_key: str | None


@dataclass(frozen=True)
class AccountQr:
    """``AddAccountQr``'s answer: the link to open and the link request's key."""

    request_key: str
    data: str


@dataclass(frozen=True)
class AccountLink:
    """``GetAddAccountQrState``'s answer."""

    request_key: str
    status: str
    account_token: str | None = None
    bank_member_id: str | None = None
    bank_member_name: str | None = None


@dataclass(frozen=True)
class Charged:
    """``ChargeQr``'s answer with ``Success: true``: CONFIRMED, REJECTED or still in progress
    (the document: ``FORM SHOWED``); the payment notification follows either way."""

    payment_id: str
    status: str
    amount: int
    order_id: str


@dataclass(frozen=True)
class Cancelled:
    """``Cancel``'s answer: the new status and the amounts before and after."""

    payment_id: str
    status: str
    original_amount: int
    new_amount: int


@dataclass(frozen=True)
class PaymentState:
    payment_id: str
    status: str
    amount: int
    order_id: str


def _amount(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return int(value)


@dataclass
class TBankClient:
    """The MAPI calls above over an injected ``httpx.AsyncClient``.

    No call is retried here: ``Init``, ``ChargeQr`` and ``Cancel`` move money, and T-Bank
    documents no idempotency key for them (``ExternalRequestId`` "does not work for SBP"); the
    callers decide (the autopay job records its attempt first and tries once a day).
    """

    http: httpx.AsyncClient
    base_url: str
    terminal_key: str
    password: str
    timeout_s: float = 15.0
    timeout: httpx.Timeout = field(init=False)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self.timeout = httpx.Timeout(self.timeout_s, connect=5.0)

    def sign(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """``fields`` with our ``TerminalKey`` first and the ``Token`` last."""
        body = {"TerminalKey": self.terminal_key, **fields}
        body[TOKEN] = token(body, self.password)
        return body

    async def call(self, method: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        body = self.sign(fields)
        try:
            response = await self.http.post(
                f"{self.base_url}/{method}", json=body, timeout=self.timeout
            )
        except httpx.HTTPError as exc:
            raise TBankUnavailable(
                f"T-Bank {method}: {exc.__class__.__name__}", method=method
            ) from exc
        if response.status_code >= 500:
            raise TBankUnavailable(f"T-Bank {method}: HTTP {response.status_code}", method=method)
        try:
            answer = response.json()
        except ValueError as exc:
            raise TBankUnavailable(f"T-Bank {method}: not JSON", method=method) from exc
        if not isinstance(answer, dict):
            raise TBankUnavailable(f"T-Bank {method}: not a JSON object", method=method)
        if response.status_code != 200 or answer.get("Success") is not True:
            code = str(answer.get("ErrorCode") or response.status_code)
            details = answer.get("Details")
            raise TBankRefused(
                f"T-Bank {method} refused ({code}): {answer.get('Message') or 'no message'}",
                method=method,
                error_code=code,
                details=details if isinstance(details, str) else None,
            )
        return answer

    async def init(
        self,
        *,
        order_id: str,
        amount: int,
        description: str,
        receipt: Receipt,
        sbp_recurrent: bool = False,
        notification_url: str | None = None,
    ) -> Initiated:
        """``Init``: a one-stage payment with its receipt.

        ``sbp_recurrent``: ``Recurrent="Y"`` and ``DATA {"QR": "true"}``, what both SBP
        autopay steps need: before ``GetQr`` it pays and links the account at once, before
        ``ChargeQr`` it is the charge of a linked account. (``DATA`` is a map of strings, and
        ChargeQr's description writes ``{"QR":"true"}``.)
        """
        if len(order_id) > 36 or not 1 <= len(description) <= 140:
            raise ValueError("OrderId takes at most 36 characters, Description 1 to 140")
        if receipt.total != amount:
            raise ValueError(f"the receipt's items total {receipt.total}, the payment {amount}")
        fields: dict[str, Any] = {
            "Amount": amount,
            "OrderId": order_id,
            "Description": description,
            "PayType": "O",
        }
        if sbp_recurrent:
            fields["Recurrent"] = "Y"
            fields["DATA"] = {"QR": "true"}
        if notification_url:
            fields["NotificationURL"] = notification_url
        fields["Receipt"] = receipt.wire()
        answer = await self.call("Init", fields)
        url = answer.get("PaymentURL")
        return Initiated(
            payment_id=self._id(answer, "PaymentId", "Init"),
            status=str(answer.get("Status", "")),
            amount=_amount(answer.get("Amount")),
            order_id=str(answer.get("OrderId", order_id)),
            payment_url=url if isinstance(url, str) else None,
        )

    async def get_qr(self, payment_id: str) -> Qr:
        """``GetQr`` (``DataType`` PAYLOAD): the link the customer opens in their bank app."""
        answer = await self.call(
            "GetQr", {"PaymentId": _number_or_text(payment_id), "DataType": "PAYLOAD"}
        )
        data = answer.get("Data")
        if not isinstance(data, str) or not data:
            raise TBankUnavailable("T-Bank GetQr: no Data", method="GetQr")
        return Qr(
            payment_id=self._id(answer, "PaymentId", "GetQr"),
            order_id=str(answer.get("OrderId", "")),
            data=data,
            request_key=ident(answer.get("RequestKey")),
        )

    async def add_account_qr(self, *, description: str) -> AccountQr:
        """``AddAccountQr`` (PAYLOAD): link an SBP account without a payment."""
        answer = await self.call(
            "AddAccountQr", {"Description": description, "DataType": "PAYLOAD"}
        )
        data = answer.get("Data")
        if not isinstance(data, str) or not data:
            raise TBankUnavailable("T-Bank AddAccountQr: no Data", method="AddAccountQr")
        return AccountQr(request_key=self._id(answer, "RequestKey", "AddAccountQr"), data=data)

    async def get_add_account_qr_state(self, request_key: str) -> AccountLink:
        """``GetAddAccountQrState``: where a link request stands."""
        answer = await self.call(
            "GetAddAccountQrState", {"RequestKey": _number_or_text(request_key)}
        )
        return AccountLink(
            request_key=ident(answer.get("RequestKey")) or request_key,
            status=str(answer.get("Status", "")),
            account_token=ident(answer.get("AccountToken")),
            bank_member_id=ident(answer.get("BankMemberId")),
            bank_member_name=ident(answer.get("BankMemberName")),
        )

    async def charge_qr(self, *, payment_id: str, account_token: str) -> Charged:
        """``ChargeQr``: charge the linked account for a recurrent+QR ``Init``.

        Raises :class:`TBankRefused` with the document's codes: 3013 recurring payments not
        available, 3014 unknown AccountToken, 3015 the AccountToken's status does not allow it,
        3037 a repeated call, 3040/3041/3042/9999 technical or too many failures.
        """
        answer = await self.call(
            "ChargeQr", {"PaymentId": payment_id, "AccountToken": account_token}
        )
        return Charged(
            payment_id=self._id(answer, "PaymentId", "ChargeQr"),
            status=str(answer.get("Status", "")),
            amount=_amount(answer.get("Amount")),
            order_id=str(answer.get("OrderId", "")),
        )

    async def cancel(
        self, *, payment_id: str, amount: int | None = None, receipt: Receipt | None = None
    ) -> Cancelled:
        """``Cancel``: a refund (CONFIRMED) or reversal (AUTHORIZED), whole or partial.

        The document: a whole cancel sends no receipt (the payment's own is reversed); a
        partial one sends ``Amount`` and a receipt of the refunded items, totalling it.
        """
        fields: dict[str, Any] = {"PaymentId": payment_id}
        if amount is not None:
            if receipt is None or receipt.total != amount:
                raise ValueError("a partial cancel needs a receipt of the refunded items")
            fields["Amount"] = amount
            fields["Receipt"] = receipt.wire()
        answer = await self.call("Cancel", fields)
        return Cancelled(
            payment_id=self._id(answer, "PaymentId", "Cancel"),
            status=str(answer.get("Status", "")),
            original_amount=_amount(answer.get("OriginalAmount")),
            new_amount=_amount(answer.get("NewAmount")),
        )

    async def get_state(self, payment_id: str) -> PaymentState:
        answer = await self.call("GetState", {"PaymentId": payment_id})
        return PaymentState(
            payment_id=self._id(answer, "PaymentId", "GetState"),
            status=str(answer.get("Status", "")),
            amount=_amount(answer.get("Amount")),
            order_id=str(answer.get("OrderId", "")),
        )

    @staticmethod
    def _id(answer: Mapping[str, Any], key: str, method: str) -> str:
        value = ident(answer.get(key))
        if value is None:
            raise TBankUnavailable(f"T-Bank {method}: no {key} in the answer", method=method)
        return value
