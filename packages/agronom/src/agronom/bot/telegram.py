"""A small Telegram Bot API client over an injected ``httpx.AsyncClient``.

Only the methods the bot uses: getUpdates, sendMessage, answerCallbackQuery, getFile (and the
file download), setWebhook, deleteWebhook. Calls are ``POST {base}/bot<token>/<method>`` with a
JSON body; the answer is ``{"ok": true, "result": …}`` or ``{"ok": false, "description": …}``.
"""

from __future__ import annotations

from typing import Any

import httpx


class TelegramError(Exception):
    """The Bot API refused a call or could not be reached."""

    def __init__(self, method: str, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(f"Bot API {method}: {message}")
        self.method = method
        self.retry_after = retry_after


class BotAPI:
    def __init__(self, http: httpx.AsyncClient, *, token: str, base_url: str) -> None:
        self.http = http
        self.base = f"{base_url.rstrip('/')}/bot{token}"
        self.files = f"{base_url.rstrip('/')}/file/bot{token}"

    async def call(self, method: str, http_timeout: float = 30.0, **params: Any) -> Any:
        body = {k: v for k, v in params.items() if v is not None}
        try:
            response = await self.http.post(
                f"{self.base}/{method}", json=body, timeout=http_timeout
            )
            answer = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise TelegramError(method, exc.__class__.__name__) from exc
        if not answer.get("ok"):
            retry = (answer.get("parameters") or {}).get("retry_after")
            raise TelegramError(method, str(answer.get("description")), retry_after=retry)
        return answer.get("result")

    async def get_updates(self, offset: int | None, wait_s: int = 25) -> list[dict[str, Any]]:
        """Long polling: Telegram holds the request up to ``wait_s`` seconds."""
        result: list[dict[str, Any]] = await self.call(
            "getUpdates",
            http_timeout=wait_s + 10,
            offset=offset,
            timeout=wait_s,
            allowed_updates=["message", "callback_query"],
        )
        return result

    async def send_message(
        self, chat_id: int, text: str, *, buttons: list[list[dict[str, str]]] | None = None
    ) -> dict[str, Any]:
        markup = {"inline_keyboard": buttons} if buttons else None
        result: dict[str, Any] = await self.call(
            "sendMessage",
            chat_id=chat_id,
            text=text,
            reply_markup=markup,
            link_preview_options={"is_disabled": True},
        )
        return result

    async def answer_callback(self, callback_id: str, text: str | None = None) -> None:
        await self.call("answerCallbackQuery", callback_query_id=callback_id, text=text)

    async def download(self, file_id: str) -> bytes:
        info = await self.call("getFile", file_id=file_id)
        try:
            response = await self.http.get(f"{self.files}/{info['file_path']}", timeout=60)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise TelegramError("getFile", f"download failed: {exc.__class__.__name__}") from exc
        return response.content

    async def set_webhook(self, url: str, secret_token: str) -> None:
        await self.call(
            "setWebhook",
            url=url,
            secret_token=secret_token,
            allowed_updates=["message", "callback_query"],
        )

    async def delete_webhook(self) -> None:
        await self.call("deleteWebhook")
