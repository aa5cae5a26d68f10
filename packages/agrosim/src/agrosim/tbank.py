"""A T-Bank internet-acquiring simulator, built from T-Bank's own OpenAPI document (v1.80).

A real HTTP server speaking MAPI v2: ``POST /v2/<Method>`` with a signed JSON object, answers
shaped as the document's response schemas, and the notifications T-Bank sends, signed with the
terminal password. Used by the demo and the tests in place of T-Bank, which no test may call.
``agrosim.tbank_document`` validates all of it against the document (packages/agrosim/tests).

Methods: ``Init``, ``GetQr``, ``AddAccountQr``, ``GetAddAccountQrState``, ``ChargeQr``,
``Cancel``, ``GetState`` and the document's SBP test helper ``SbpPayTest``.

Statuses as documented::

    payment  NEW → FORM_SHOWED (QR shown) → AUTHORIZED → CONFIRMED
             NEW | FORM_SHOWED → REJECTED | DEADLINE_EXPIRED | CANCELED (Cancel)
             AUTHORIZED → REVERSED | PARTIAL_REVERSED (Cancel)
             CONFIRMED | PARTIAL_REFUNDED → REFUNDED | PARTIAL_REFUNDED (Cancel)
    link     NEW → PROCESSING (QR formed) → ACTIVE | INACTIVE; ACTIVE → INACTIVE (deactivated)

Notifications: ``NotificationPayment`` on AUTHORIZED, CONFIRMED, REJECTED, DEADLINE_EXPIRED,
CANCELED, REVERSED, PARTIAL_REVERSED, REFUNDED, PARTIAL_REFUNDED, to the payment's
``NotificationURL`` or else the terminal's URL; ``NotificationQr`` (``LINKACCOUNT``, ACTIVE or
INACTIVE) always to the terminal's URL (the document: AddAccountQr has no NotificationURL);
``NotificationFiscalization`` (``Status: RECEIPT``) after a receipt is registered (a paid
payment's, a refund's). In a refund notification ``Amount`` is the amount refunded by that
operation. Notifications go out before the method that caused them answers, so a caller sees
their effect when its call returns; an answer other than HTTP 200 ``OK`` is kept for
:meth:`TBankSim.redeliver` (T-Bank resends for 24 hours).

Test hooks, as Python methods and HTTP routes: the customer pays or declines
(:meth:`TBankSim.pay`, ``POST /pay/{payment_id}[?decline=1]``), approves or refuses a link
(:meth:`TBankSim.link`, ``POST /link/{request_key}[?decline=1]``), the bank deactivates a link
(:meth:`TBankSim.deactivate`, ``POST /unlink/{account_token}``), a payment expires
(:meth:`TBankSim.expire`). ``ChargeQr`` on an account in ``declined_accounts`` is REJECTED;
``recurrent_enabled=False`` answers 3013.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

TAXATION = {"osn", "usn_income", "usn_income_outcome", "esn", "patent"}
TAX = {"none", "vat0", "vat5", "vat7", "vat10", "vat20", "vat105", "vat107", "vat110", "vat120"}
SBP_RANGE = (1_000, 100_000_000)  # kopecks: 10 RUB … 1,000,000 RUB (error 3016 outside)
BANK = ("100000000004", "Т-Банк")  # noqa: RUF001 - the bank's name is Russian


def _text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return value
    return None


def token(fields: Mapping[str, Any], password: str) -> str:
    """T-Bank's ``Token``: root-level scalars but ``Token`` (objects, arrays and null left
    out), plus ``Password``, sorted by key, values concatenated, SHA-256 in hex; booleans as
    ``true``/``false``."""
    pairs = {k: s for k, v in fields.items() if k != "Token" and (s := _text(v)) is not None}
    pairs["Password"] = password
    return hashlib.sha256("".join(pairs[k] for k in sorted(pairs)).encode()).hexdigest()


def verify(fields: Mapping[str, Any], password: str) -> bool:
    given = fields.get("Token")
    return isinstance(given, str) and hmac.compare_digest(
        given.lower().encode(), token(fields, password).encode()
    )


class Refusal(Exception):
    """A method's answer with ``Success: false``."""

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra


@dataclass
class SimPayment:
    payment_id: int
    order_id: str
    amount: int  # what is left after refunds
    original_amount: int
    description: str | None
    recurrent: bool
    qr: bool  # DATA.QR: an SBP payment (pay and link, or a ChargeQr charge)
    notification_url: str | None
    receipt: dict[str, Any] | None
    status: str = "NEW"
    request_key: int | None = None  # the link made with it (pay and link)
    account: str | None = None  # the AccountToken a ChargeQr charged
    history: list[str] = field(default_factory=lambda: ["NEW"])


@dataclass
class SimLink:
    request_key: int
    description: str
    status: str = "NEW"
    account_token: str | None = None
    payment_id: int | None = None


@dataclass(frozen=True)
class Exchange:
    """One method call: the request as received and the answer given."""

    method: str
    request: Any
    answer: dict[str, Any]

    @property
    def accepted(self) -> bool:
        return self.answer.get("Success") is True


@dataclass
class Delivery:
    """One notification sent: where, what, and what the merchant answered."""

    url: str
    body: dict[str, Any]
    kind: str  # payment | link | fiscalization
    status_code: int = 0
    text: str = ""

    @property
    def delivered(self) -> bool:
        return self.status_code == 200 and self.text == "OK"


def _int(value: Any) -> int | None:
    """A number the document types as a number or a string of digits."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _check_map(data: Any, name: str) -> None:
    """``DATA``/``Data``: at most 20 pairs, keys of 20 and values of 100 characters."""
    if data is None:
        return
    if not isinstance(data, dict):
        raise Refusal("2", f"{name} must be an object")
    if len(data) > 20:
        raise Refusal("207", "Параметр DATA превышает максимально допустимый размер")
    for key, value in data.items():
        if len(key) > 20:
            raise Refusal("208", "Наименование ключа из параметра DATA превышает размер")
        if len(str(value)) > 100:
            raise Refusal("209", "Значение ключа из параметра DATA превышает размер")


def _check_receipt(receipt: Any, amount: int | None) -> None:
    """The document's receipt rules (FFD 1.05 or 1.2) that JSON Schema cannot say."""
    if not isinstance(receipt, dict):
        raise Refusal("309", "Поле Receipt не должно быть пустым")
    if not receipt.get("Email") and not receipt.get("Phone"):
        raise Refusal("329", "email или Phone обязательны при передаче чека")
    if receipt.get("Taxation") not in TAXATION:
        raise Refusal("2", "Receipt.Taxation is missing or unknown")
    items = receipt.get("Items")
    if not isinstance(items, list) or not 1 <= len(items) <= 100:
        raise Refusal("309", "Receipt.Items must hold 1 to 100 positions")
    total = 0
    for item in items:
        if not isinstance(item, dict) or item.get("Tax") not in TAX:
            raise Refusal("2", "every receipt item needs Name, Price, Quantity, Amount, Tax")
        price, quantity, line = (_int(item.get(k)) for k in ("Price", "Quantity", "Amount"))
        name = item.get("Name")
        if not isinstance(name, str) or not 1 <= len(name) <= 128 or None in (price, line):
            raise Refusal("2", "every receipt item needs Name, Price, Quantity, Amount, Tax")
        if quantity is not None and price is not None and line != price * quantity:
            raise Refusal("323", "Amount не совпадают")
        total += line or 0
    if amount is not None and total != amount:
        raise Refusal("334", "Суммы в чеке и в платеже не совпадают")


@dataclass
class TBankSim:
    """One T-Bank terminal: its key and password, its settings, and what happened on it."""

    terminal_key: str
    password: str
    base_url: str = ""
    # The terminal's notification URL (its settings): LINKACCOUNT notices always go there,
    # payment notifications when Init named no NotificationURL.
    notification_url: str | None = None
    receipts_required: bool = True  # an online cash register is attached: Receipt required
    send_receipts: bool = True  # send NotificationFiscalization for registered receipts
    recurrent_enabled: bool = True  # SBP recurring payments switched on (ChargeQr: 3013 if not)
    payments: dict[int, SimPayment] = field(default_factory=dict)
    links: dict[int, SimLink] = field(default_factory=dict)
    declined_accounts: set[str] = field(default_factory=set)  # ChargeQr on these is REJECTED
    # Methods whose answer is lost on the way back (a proxy's 504 after T-Bank did the work).
    lost_answers: set[str] = field(default_factory=set)
    exchanges: list[Exchange] = field(default_factory=list)  # every call, in order
    deliveries: list[Delivery] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(7_000_001))
    _keys: Any = field(default_factory=lambda: itertools.count(211_258))

    def app(self) -> Starlette:
        methods: dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]] = {
            "Init": self._init,
            "GetQr": self._get_qr,
            "AddAccountQr": self._add_account_qr,
            "GetAddAccountQrState": self._get_add_account_qr_state,
            "ChargeQr": self._charge_qr,
            "Cancel": self._cancel,
            "GetState": self._get_state,
            "SbpPayTest": self._sbp_pay_test,
        }
        routes = [
            Route(f"/v2/{name}", self._endpoint(name, fn), methods=["POST"])
            for name, fn in methods.items()
        ]
        routes += [
            Route("/pay/{payment_id:int}", self._pay_route, methods=["POST"]),
            Route("/link/{request_key:int}", self._link_route, methods=["POST"]),
            Route("/unlink/{account_token}", self._unlink_route, methods=["POST"]),
        ]
        return Starlette(routes=routes)

    # ------------------------------------------------------------ the wire

    def _endpoint(
        self, name: str, method: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
    ) -> Callable[[Request], Awaitable[JSONResponse]]:
        async def endpoint(request: Request) -> JSONResponse:
            try:
                body = await request.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                refused = self._refusal(Refusal("2", "the body must be a JSON object"))
                self.exchanges.append(Exchange(name, body, refused))
                return JSONResponse(refused)
            try:
                if body.get("TerminalKey") != self.terminal_key:
                    raise Refusal(
                        "205",
                        "Неверный токен. Проверьте пару TerminalKey/SecretKey.",
                        Details="Указанный терминал не найден",
                    )
                if not verify(body, self.password):
                    raise Refusal("204", "Неверный токен. Проверьте пару TerminalKey/SecretKey.")
                answer = {"Success": True, "ErrorCode": "0", **await method(body)}
            except Refusal as refusal:
                answer = self._refusal(refusal)
            self.exchanges.append(Exchange(name, body, answer))
            if name in self.lost_answers:
                return JSONResponse({"error": "upstream timed out"}, status_code=504)
            return JSONResponse(answer)

        return endpoint

    def _refusal(self, refusal: Refusal) -> dict[str, Any]:
        return {
            "TerminalKey": self.terminal_key,
            "Success": False,
            "ErrorCode": refusal.code,
            "Message": refusal.message,
            **refusal.extra,
        }

    def _payment(self, body: Mapping[str, Any]) -> SimPayment:
        payment = self.payments.get(_int(body.get("PaymentId")) or -1)
        if payment is None:
            raise Refusal("255", "Платеж не найден")
        return payment

    # ------------------------------------------------------------ methods

    async def _init(self, body: dict[str, Any]) -> dict[str, Any]:
        amount, order = _int(body.get("Amount")), body.get("OrderId")
        if amount is None or not isinstance(order, str):
            raise Refusal("2", "Отсутствуют обязательные параметры: Amount, OrderId")
        if not 1 <= len(order) <= 36:
            raise Refusal("212", "Размер поля OrderId должен быть от 1 до 36")
        description = body.get("Description")
        if description is not None and (not isinstance(description, str) or len(description) > 140):
            raise Refusal("213", "Размер поля Description должен быть от 1 до 140")
        if amount < 100:
            raise Refusal("251", "Неверная сумма. Сумма должна быть больше или равна 100 копеек")
        if any(
            p.order_id == order and p.status not in ("REJECTED", "CANCELED", "DEADLINE_EXPIRED")
            for p in self.payments.values()
        ):
            raise Refusal("20", "Ошибка повторного идентификатора заказа")
        data = body.get("DATA")
        _check_map(data, "DATA")
        if body.get("PayType") not in (None, "O", "T"):
            raise Refusal("2", "PayType is O or T")
        recurrent = body.get("Recurrent") == "Y"
        qr = isinstance(data, dict) and str(data.get("QR")).lower() == "true"
        if recurrent and qr and not description:
            raise Refusal("213", "Description обязателен для привязки и оплаты по СБП")
        receipt = body.get("Receipt")
        if receipt is not None or self.receipts_required:
            _check_receipt(receipt, amount)
        payment = SimPayment(
            payment_id=next(self._ids),
            order_id=order,
            amount=amount,
            original_amount=amount,
            description=description,
            recurrent=recurrent,
            qr=qr,
            notification_url=body.get("NotificationURL"),
            receipt=receipt,
        )
        self.payments[payment.payment_id] = payment
        return {
            "TerminalKey": self.terminal_key,
            "Status": "NEW",
            "PaymentId": str(payment.payment_id),
            "OrderId": payment.order_id,
            "Amount": payment.amount,
            "PaymentURL": f"{self.base_url}/pay/{payment.payment_id}",
        }

    def _payload(self, amount: int | None) -> str:
        qrc = "AS" + secrets.token_hex(15).upper()
        tail = f"&sum={amount}&cur=RUB" if amount is not None else ""
        return f"https://qr.nspk.ru/{qrc}?type=02&bank={BANK[0]}{tail}&crc={secrets.token_hex(2).upper()}"

    def _qr_data(self, data_type: Any, amount: int | None) -> str:
        if data_type not in (None, "PAYLOAD", "IMAGE"):
            raise Refusal("2", "DataType is PAYLOAD or IMAGE")
        payload = self._payload(amount)
        if data_type == "IMAGE":
            return f'<svg xmlns="http://www.w3.org/2000/svg"><title>{payload}</title></svg>'
        return payload

    async def _get_qr(self, body: dict[str, Any]) -> dict[str, Any]:
        payment = self._payment(body)
        if payment.status not in ("NEW", "FORM_SHOWED"):
            raise Refusal("8", "Неверный статус транзакции")
        if not SBP_RANGE[0] <= payment.amount <= SBP_RANGE[1]:
            raise Refusal("3016", "Невозможно создать QR")
        answer: dict[str, Any] = {
            "TerminalKey": self.terminal_key,
            "OrderId": payment.order_id,
            "Data": self._qr_data(body.get("DataType"), payment.amount),
            "PaymentId": payment.payment_id,
        }
        self._move(payment, "FORM_SHOWED")
        if payment.recurrent and payment.qr:  # pay and link at once
            if payment.request_key is None:
                link = self._new_link(payment.description or "", payment.payment_id)
                payment.request_key = link.request_key
            answer["RequestKey"] = payment.request_key
        return answer

    def _new_link(self, description: str, payment_id: int | None) -> SimLink:
        link = SimLink(request_key=next(self._keys), description=description, payment_id=payment_id)
        self.links[link.request_key] = link
        link.status = "PROCESSING"  # the QR is formed and handed to the merchant
        return link

    async def _add_account_qr(self, body: dict[str, Any]) -> dict[str, Any]:
        description = body.get("Description")
        if not isinstance(description, str) or not description:
            raise Refusal("2", "Отсутствуют обязательные параметры: Description")
        _check_map(body.get("Data"), "Data")
        data = self._qr_data(body.get("DataType"), None)
        link = self._new_link(description, None)
        return {"TerminalKey": self.terminal_key, "Data": data, "RequestKey": link.request_key}

    def _link_of(self, request_key: Any) -> SimLink:
        link = self.links.get(_int(request_key) or -1)
        if link is None:
            raise Refusal("3012", "Привязка счета не найдена")
        return link

    async def _get_add_account_qr_state(self, body: dict[str, Any]) -> dict[str, Any]:
        link = self._link_of(body.get("RequestKey"))
        answer: dict[str, Any] = {
            "TerminalKey": self.terminal_key,
            "RequestKey": link.request_key,
            "Status": link.status,
        }
        if link.status in ("ACTIVE", "INACTIVE") and link.account_token:
            answer |= {
                "AccountToken": link.account_token,
                "BankMemberId": BANK[0],
                "BankMemberName": BANK[1],
            }
        return answer

    async def _charge_qr(self, body: dict[str, Any]) -> dict[str, Any]:
        payment = self._payment(body)
        fields = {
            "Amount": payment.amount,
            "OrderId": payment.order_id,
            "PaymentId": str(payment.payment_id),
        }
        account = body.get("AccountToken")
        if not isinstance(account, str) or not account:
            raise Refusal("2", "Отсутствуют обязательные параметры: AccountToken", **fields)
        if not self.recurrent_enabled or not (payment.recurrent and payment.qr):
            raise Refusal("3013", "Рекуррентные платежи недоступны", **fields)
        if payment.status != "NEW" or payment.account is not None:
            raise Refusal("3037", "Повторный вызов метода недоступен", **fields)
        link = next((x for x in self.links.values() if x.account_token == account), None)
        if link is None:
            raise Refusal("3014", "AccountToken не найден", **fields)
        if link.status != "ACTIVE":
            raise Refusal("3015", "Неверный статус AccountToken", **fields)
        if not SBP_RANGE[0] <= payment.amount <= SBP_RANGE[1]:
            raise Refusal("3016", "Невозможно создать QR", **fields)
        payment.account = account
        self._move(payment, "FORM_SHOWED")
        await self._settle(payment, succeed=account not in self.declined_accounts)
        return {
            "TerminalKey": self.terminal_key,
            **fields,
            "Status": payment.status,
            "Currency": 643,
        }

    async def _cancel(self, body: dict[str, Any]) -> dict[str, Any]:
        payment = self._payment(body)
        before = payment.amount
        asked = _int(body.get("Amount")) if "Amount" in body else None
        receipt = body.get("Receipt")
        if payment.status in ("NEW", "FORM_SHOWED"):
            refunded, status = before, "CANCELED"  # Amount is ignored for NEW
        elif payment.status in ("AUTHORIZED", "CONFIRMED", "PARTIAL_REFUNDED", "PARTIAL_REVERSED"):
            refunded = before if asked is None else asked
            if refunded <= 0 or refunded > before:
                raise Refusal("330", "Сумма в запросе больше чем в оригинальной транзакции")
            if refunded < before and (receipt is not None or self.receipts_required):
                # A partial refund lists the refunded items; the document does not say their
                # total must equal Amount (its own example refunds 19200 with a 10000 item).
                _check_receipt(receipt, None)
            whole = refunded == before
            if payment.status in ("AUTHORIZED", "PARTIAL_REVERSED"):
                status = "REVERSED" if whole else "PARTIAL_REVERSED"
            else:
                status = "REFUNDED" if whole else "PARTIAL_REFUNDED"
        else:
            raise Refusal("8", "Неверный статус транзакции")
        payment.amount = before - refunded
        self._move(payment, status)
        await self._notify_payment(payment, status, amount=refunded)
        if status in ("REFUNDED", "PARTIAL_REFUNDED") and payment.receipt is not None:
            refund_receipt = receipt if isinstance(receipt, dict) else payment.receipt
            await self._fiscalize(payment, refund_receipt, refunded, kind="IncomeReturn")
        return {
            "TerminalKey": self.terminal_key,
            "OrderId": payment.order_id,
            "Status": status,
            "OriginalAmount": before,
            "NewAmount": payment.amount,
            "PaymentId": payment.payment_id,
        }

    async def _get_state(self, body: dict[str, Any]) -> dict[str, Any]:
        payment = self._payment(body)
        return {
            "TerminalKey": self.terminal_key,
            "Status": payment.status,
            "PaymentId": str(payment.payment_id),
            "OrderId": payment.order_id,
            "Amount": payment.amount,
        }

    async def _sbp_pay_test(self, body: dict[str, Any]) -> dict[str, Any]:
        """The document's SBP test method: the customer paid, was rejected, or let it expire."""
        payment = self._payment(body)
        expired, rejected = body.get("IsDeadlineExpired") is True, body.get("IsRejected") is True
        if expired and rejected:
            raise Refusal("2", "IsDeadlineExpired and IsRejected exclude each other")
        if payment.status not in ("NEW", "FORM_SHOWED"):
            raise Refusal("8", "Неверный статус транзакции")
        if expired:
            await self.expire(payment.payment_id)
        else:
            await self.pay(payment.payment_id, succeed=not rejected)
        return {"Message": "OK", "Details": "0"}

    # ------------------------------------------------------------ test hooks

    async def pay(
        self, payment_id: int, *, succeed: bool = True, confirm: bool = True
    ) -> list[str]:
        """The customer paid the QR (or their bank declined); the merchant's answers.

        ``confirm=False`` leaves the payment AUTHORIZED (a payment caught between the two
        steps), which ``Cancel`` reverses instead of refunding."""
        payment = self.payments[payment_id]
        if payment.status not in ("NEW", "FORM_SHOWED"):
            raise ValueError(f"payment {payment_id} is {payment.status}, not payable")
        self._move(payment, "FORM_SHOWED")
        start = len(self.deliveries)
        await self._settle(payment, succeed=succeed, confirm=confirm)
        if payment.request_key is not None:  # paid and linked at once
            await self.link(payment.request_key, approve=succeed)
        return [d.text for d in self.deliveries[start:]]

    async def link(self, request_key: int, *, approve: bool = True) -> str:
        """The customer approved (or refused) the account link in their bank app."""
        link = self.links[request_key]
        if link.status not in ("NEW", "PROCESSING"):
            raise ValueError(f"link {request_key} is {link.status} already")
        link.status = "ACTIVE" if approve else "INACTIVE"
        if approve:
            link.account_token = secrets.token_hex(16)
        return await self._notify_link(link)

    async def deactivate(self, account_token: str) -> str:
        """The bank (or the customer in it) switched an active link off."""
        link = next(x for x in self.links.values() if x.account_token == account_token)
        link.status = "INACTIVE"
        return await self._notify_link(link)

    async def expire(self, payment_id: int) -> list[str]:
        """The QR's lifetime (RedirectDueDate) passed unpaid."""
        payment = self.payments[payment_id]
        self._move(payment, "DEADLINE_EXPIRED")
        start = len(self.deliveries)
        await self._notify_payment(payment, "DEADLINE_EXPIRED")
        if payment.request_key is not None:
            link = self.links[payment.request_key]
            if link.status in ("NEW", "PROCESSING"):
                link.status = "INACTIVE"
                await self._notify_link(link)
        return [d.text for d in self.deliveries[start:]]

    async def redeliver(self) -> list[str]:
        """Send again every notification the merchant did not answer ``OK``."""
        pending = [d for d in self.deliveries if not d.delivered]
        for delivery in pending:
            await self._post(delivery)
        return [d.text for d in pending]

    def requests(self, method: str | None = None) -> list[dict[str, Any]]:
        """The requests received (of ``method``), in order."""
        return [
            x.request
            for x in self.exchanges
            if method in (None, x.method) and isinstance(x.request, dict)
        ]

    @property
    def undelivered(self) -> list[Delivery]:
        return [d for d in self.deliveries if not d.delivered]

    async def _pay_route(self, request: Request) -> JSONResponse:
        decline = request.query_params.get("decline") in ("1", "true")
        answers = await self.pay(int(request.path_params["payment_id"]), succeed=not decline)
        return JSONResponse({"notified": answers})

    async def _link_route(self, request: Request) -> JSONResponse:
        decline = request.query_params.get("decline") in ("1", "true")
        answer = await self.link(int(request.path_params["request_key"]), approve=not decline)
        return JSONResponse({"notified": [answer]})

    async def _unlink_route(self, request: Request) -> JSONResponse:
        answer = await self.deactivate(request.path_params["account_token"])
        return JSONResponse({"notified": [answer]})

    # ------------------------------------------------------------ notifications

    def _move(self, payment: SimPayment, status: str) -> None:
        if payment.status != status:
            payment.status = status
            payment.history.append(status)

    async def _settle(self, payment: SimPayment, *, succeed: bool, confirm: bool = True) -> None:
        """FORM_SHOWED → AUTHORIZED → CONFIRMED (one stage: SBP has no two-stage), or REJECTED."""
        if succeed:
            for status in ("AUTHORIZED", "CONFIRMED") if confirm else ("AUTHORIZED",):
                self._move(payment, status)
                await self._notify_payment(payment, status)
            if confirm and payment.receipt is not None:
                await self._fiscalize(payment, payment.receipt, payment.amount, kind="Income")
        else:
            self._move(payment, "REJECTED")
            await self._notify_payment(payment, "REJECTED")

    def notification(
        self, payment: SimPayment, status: str, *, amount: int | None = None
    ) -> dict[str, Any]:
        """A signed ``NotificationPayment`` for ``payment`` in ``status``."""
        ok = status not in ("REJECTED", "AUTH_FAIL", "DEADLINE_EXPIRED")
        body: dict[str, Any] = {
            "TerminalKey": self.terminal_key,
            "OrderId": payment.order_id,
            "Success": ok,
            "Status": status,
            "PaymentId": payment.payment_id,
            "ErrorCode": "0" if ok else "1006",
            "Amount": payment.amount if amount is None else amount,
            "Pan": "+7 (XXX) XXX-XX-11",  # SBP: the payer's masked phone
        }
        if not ok:
            body["Message"] = "Платеж не прошел"
        body["Token"] = token(body, self.password)
        return body

    def link_notification(self, link: SimLink) -> dict[str, Any]:
        """A signed ``NotificationQr`` (``LINKACCOUNT``) for ``link``."""
        active = link.status == "ACTIVE"
        body: dict[str, Any] = {
            "TerminalKey": self.terminal_key,
            "RequestKey": str(link.request_key),  # a string here (a number in the answers)
            "NotificationType": "LINKACCOUNT",
            "Success": active,
            "ErrorCode": "0" if active else "3015",
            "Status": link.status,
        }
        if link.account_token:
            body["AccountToken"] = link.account_token
        if active:
            body |= {"BankMemberId": BANK[0], "BankMemberName": BANK[1]}
        body["Token"] = token(body, self.password)
        return body

    def fiscalization(
        self, payment: SimPayment, receipt: dict[str, Any], amount: int, *, kind: str
    ) -> dict[str, Any]:
        """A signed ``NotificationFiscalization`` (``Status: RECEIPT``)."""
        number = len(self.deliveries) + 1
        receipt = dict(receipt)
        if isinstance(receipt.get("Payments"), dict):  # an object in requests, an array here
            receipt["Payments"] = [receipt["Payments"]]
        body: dict[str, Any] = {
            "TerminalKey": self.terminal_key,
            "OrderId": payment.order_id,
            "Success": True,
            "Status": "RECEIPT",
            "PaymentId": payment.payment_id,
            "ErrorCode": "0",
            "Amount": amount,
            "FiscalNumber": number,
            "ShiftNumber": 1,
            "ReceiptDatetime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00"),
            "FnNumber": "9999078900012345",
            "EcrRegNumber": "0000000000012345",
            "FiscalDocumentNumber": number,
            "FiscalDocumentAttribute": 1_000_000 + number,
            "Receipt": receipt,
            "Type": kind,
            "Ofd": "ОФД (симулятор)",
            "Url": f"https://ofd.example/receipt/{payment.payment_id}/{number}",
            "QrCodeUrl": f"https://ofd.example/qr/{payment.payment_id}/{number}",
        }
        body["Token"] = token(body, self.password)
        return body

    async def _notify_payment(
        self, payment: SimPayment, status: str, *, amount: int | None = None
    ) -> None:
        url = payment.notification_url or self.notification_url
        if url is None:
            raise ValueError("no NotificationURL for this payment or terminal")
        await self._post(
            Delivery(url, self.notification(payment, status, amount=amount), "payment")
        )

    async def _notify_link(self, link: SimLink) -> str:
        if self.notification_url is None:
            raise ValueError("LINKACCOUNT goes to the terminal's notification URL: none is set")
        delivery = Delivery(self.notification_url, self.link_notification(link), "link")
        await self._post(delivery)
        return delivery.text

    async def _fiscalize(
        self, payment: SimPayment, receipt: dict[str, Any], amount: int, *, kind: str
    ) -> None:
        if not self.send_receipts:
            return
        url = payment.notification_url or self.notification_url
        if url is None:
            return
        await self._post(
            Delivery(url, self.fiscalization(payment, receipt, amount, kind=kind), "fiscalization")
        )

    async def _post(self, delivery: Delivery) -> None:
        if not any(d is delivery for d in self.deliveries):  # a redelivery is not a new one
            self.deliveries.append(delivery)
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                response = await client.post(delivery.url, json=delivery.body)
            delivery.status_code, delivery.text = response.status_code, response.text
        except httpx.HTTPError as exc:
            delivery.status_code, delivery.text = 0, exc.__class__.__name__
