"""A small T-Bank acquiring simulator: ``POST /v2/Init`` and the notifications that follow.

It checks the request ``Token`` the way T-Bank does, answers ``Init`` with a ``PaymentId`` and
a ``PaymentURL``, and when a payment is paid (:meth:`TBankSim.pay`, or ``POST /pay/<id>``)
sends the notifications T-Bank would (``AUTHORIZED``, then ``CONFIRMED``, or ``REJECTED``),
signed with the terminal password, to the payment's ``NotificationURL``. Used by the demo and
the tests in place of T-Bank, which no test may call.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def token(fields: dict[str, Any], password: str) -> str:
    """T-Bank's ``Token``: root-level scalars but ``Token``, plus ``Password``, sorted by key,
    values concatenated, SHA-256 in hex; booleans as ``true``/``false``."""
    pairs = {
        key: ("true" if value else "false") if isinstance(value, bool) else str(value)
        for key, value in fields.items()
        if key != "Token" and isinstance(value, str | int | float | bool)
    }
    pairs["Password"] = password
    return hashlib.sha256("".join(pairs[k] for k in sorted(pairs)).encode()).hexdigest()


def verify(fields: dict[str, Any], password: str) -> bool:
    given = fields.get("Token")
    return isinstance(given, str) and hmac.compare_digest(given, token(fields, password))


@dataclass
class SimPayment:
    payment_id: int
    order_id: str
    amount: int
    recurrent: bool
    notification_url: str | None
    customer_key: str | None
    account: str | None = None  # the bound account a ChargeQr used


@dataclass
class TBankSim:
    terminal_key: str
    password: str
    base_url: str = ""
    notification_url: str | None = None  # the terminal's setting, for Init without one
    payments: dict[int, SimPayment] = field(default_factory=dict)
    declined_accounts: set[str] = field(default_factory=set)  # ChargeQr on these is REJECTED
    _ids: Any = field(default_factory=lambda: itertools.count(7_000_001))

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v2/Init", self.init, methods=["POST"]),
                Route("/v2/ChargeQr", self.charge_qr, methods=["POST"]),
                Route("/pay/{payment_id:int}", self.pay_route, methods=["POST"]),
            ]
        )

    async def init(self, request: Request) -> JSONResponse:
        body = await request.json()
        if body.get("TerminalKey") != self.terminal_key:
            return self._error("204", "Неверный TerminalKey")
        if not verify(body, self.password):
            return self._error("204", "Неверный токен. Проверьте пару TerminalKey/SecretKey.")
        payment = SimPayment(
            payment_id=next(self._ids),
            order_id=str(body["OrderId"]),
            amount=int(body["Amount"]),
            recurrent=body.get("Recurrent") == "Y",
            notification_url=body.get("NotificationURL"),
            customer_key=body.get("CustomerKey"),
        )
        self.payments[payment.payment_id] = payment
        return JSONResponse(
            {
                "Success": True,
                "ErrorCode": "0",
                "TerminalKey": self.terminal_key,
                "Status": "NEW",
                "PaymentId": str(payment.payment_id),
                "OrderId": payment.order_id,
                "Amount": payment.amount,
                "PaymentURL": f"{self.base_url}/pay/{payment.payment_id}",
            }
        )

    async def charge_qr(self, request: Request) -> JSONResponse:
        """Charge a bound account: notify the result, then answer (as T-Bank, asynchronously
        in reality; in order here, so tests and the demo see the effect when the call ends)."""
        body = await request.json()
        if body.get("TerminalKey") != self.terminal_key or not verify(body, self.password):
            return self._error("204", "Неверный токен. Проверьте пару TerminalKey/SecretKey.")
        payment = self.payments.get(int(body.get("PaymentId", 0)))
        account = str(body.get("AccountToken", ""))
        if payment is None or not account.startswith("sim-account-"):
            return self._error("1001", "Неверные параметры платежа или счёта")
        payment.account = account
        succeed = account not in self.declined_accounts
        await self.pay(payment.payment_id, succeed=succeed)
        return JSONResponse(
            {
                "Success": True,
                "ErrorCode": "0",
                "TerminalKey": self.terminal_key,
                "Status": "CONFIRMED" if succeed else "REJECTED",
                "PaymentId": str(payment.payment_id),
                "OrderId": payment.order_id,
            }
        )

    async def pay_route(self, request: Request) -> JSONResponse:
        answers = await self.pay(int(request.path_params["payment_id"]))
        return JSONResponse({"notified": answers})

    def _error(self, code: str, message: str) -> JSONResponse:
        return JSONResponse({"Success": False, "ErrorCode": code, "Message": message})

    def notification(self, payment: SimPayment, status: str) -> dict[str, Any]:
        ok = status not in ("REJECTED",)
        body: dict[str, Any] = {
            "TerminalKey": self.terminal_key,
            "OrderId": payment.order_id,
            "Success": ok,
            "Status": status,
            "PaymentId": payment.payment_id,
            "ErrorCode": "0" if ok else "1051",
            "Amount": payment.amount,
            "Pan": "+7 (XXX) XXX-XX-11",
            "Data": {"Source": "SBP"},
        }
        if payment.account is not None:
            body["AccountToken"] = payment.account
        elif payment.recurrent and status == "CONFIRMED":
            body["AccountToken"] = f"sim-account-{payment.customer_key}"
        body["Token"] = token(body, self.password)
        return body

    async def pay(self, payment_id: int, *, succeed: bool = True) -> list[str]:
        """The customer paid (or the bank declined): send the notifications; our answers."""
        payment = self.payments[payment_id]
        url = payment.notification_url or self.notification_url
        if url is None:
            raise ValueError("no NotificationURL for this payment or terminal")
        answers = []
        async with httpx.AsyncClient(timeout=10) as client:
            for status in ("AUTHORIZED", "CONFIRMED") if succeed else ("REJECTED",):
                response = await client.post(url, json=self.notification(payment, status))
                answers.append(response.text)
        return answers
