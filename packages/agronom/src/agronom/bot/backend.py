"""The bot's client of the Pocket Agronomist API: every call signed for the Telegram user."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from agronom import auth


class ApiError(Exception):
    """An answer of the API that is not a success: its error_code and message."""

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message


class AgronomClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        secret: str,
        wallclock: Callable[[], float] = time.time,
    ) -> None:
        self.http = http
        self.secret = secret
        self.wallclock = wallclock

    def _headers(self, tg_id: int) -> dict[str, str]:
        return {auth.HEADER: auth.sign(tg_id, secret=self.secret, now=self.wallclock())}

    async def _call(self, method: str, path: str, tg_id: int, **kwargs: Any) -> dict[str, Any]:
        response = await self.http.request(
            method, path, headers=self._headers(tg_id), timeout=120, **kwargs
        )
        try:
            body: dict[str, Any] = response.json()
        except ValueError:
            body = {}
        if response.status_code >= 400:
            raise ApiError(
                response.status_code,
                str(body.get("error_code", "BAD_REQUEST")),
                str(body.get("message", response.text[:200])),
            )
        return body

    async def limits(self, tg_id: int) -> dict[str, Any]:
        return await self._call("GET", "/v1/limits", tg_id)

    async def diagnose(
        self, tg_id: int, image: bytes, *, file_id: str, file_unique_id: str
    ) -> dict[str, Any]:
        return await self._call(
            "POST",
            "/v1/ai/diagnose",
            tg_id,
            files={"image": ("photo.jpg", image, "image/jpeg")},
            data={"file_id": file_id, "file_unique_id": file_unique_id},
        )

    async def pro(self, tg_id: int, *, months: int = 1, autopay: bool = True) -> dict[str, Any]:
        return await self._call(
            "POST", "/v1/payments/sbp/pro", tg_id, json={"months": months, "autopay": autopay}
        )

    async def consent(self, tg_id: int, enabled: bool) -> dict[str, Any]:
        return await self._call("PUT", "/v1/ml/consent", tg_id, json={"enabled": enabled})

    async def cancel_autopay(self, tg_id: int) -> dict[str, Any]:
        return await self._call("POST", "/v1/payments/sbp/autopay/cancel", tg_id)

    async def delete_me(self, tg_id: int) -> dict[str, Any]:
        return await self._call("POST", "/v1/dsr/delete_user", tg_id, json={})
