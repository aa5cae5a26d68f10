# ruff: noqa: RUF001 - the bot speaks Russian to its users
"""What the bot does with an update: commands, photos, buttons. Thin: each handler calls the
API once (through :class:`AgronomClient`) and answers the user.

Commands: ``/start``, ``/limits``, ``/pro`` (payment link), ``/optin`` (ML-dataset consent
toggle), ``/delete_me`` (DSR, after a confirmation button), ``/stop_autopay``; a photo gets a
diagnosis with its protocol.
"""

from __future__ import annotations

from typing import Any

import structlog

from agronom.bot.backend import AgronomClient, ApiError
from agronom.bot.telegram import BotAPI, TelegramError

log = structlog.get_logger("agronom.bot")

HELP = (
    "Я — Карманный агроном. Пришлите фото больного листа крупным планом при дневном свете, "
    "и я назову болезнь и расскажу, как лечить.\n\n"
    "/limits — сколько фото осталось в этом месяце\n"
    "/pro — подписка PRO через СБП\n"
    "/optin — разрешить или запретить использовать мои фото для обучения модели\n"
    "/stop_autopay — отключить автоплатёж\n"
    "/delete_me — удалить все мои данные"
)
ERRORS = {
    "NO_LEAF": "На фото не видно листа. Сфотографируйте поражённый лист крупно, при дневном свете.",
    "LIMIT_EXCEEDED": "Бесплатные фото в этом месяце закончились. Лимит обновится 1-го числа, "
    "а с PRO можно больше: /pro",
    "GPT_TIMEOUT": "Модель сейчас не отвечает, фото не засчитано. Попробуйте через пару минут.",
    "BAD_REQUEST": "Не получилось прочитать фото. Пришлите его как фото, не как файл.",
    "UNAUTHORIZED": "Ошибка авторизации бота. Мы уже разбираемся.",
}


def _plural_photos(n: int) -> str:
    return f"{n} фото"


def format_diagnosis(result: dict[str, Any]) -> str:
    protocol = result["protocol"]
    lines = [
        f"Диагноз: {protocol['disease_name']} (уверенность {round(result['confidence'] * 100)}%)",
        protocol["summary"],
        "",
        "Что делать:",
        *(f"{i}. {step}" for i, step in enumerate(protocol["steps"], 1)),
    ]
    if protocol["products"]:
        lines += ["", "Препараты:"]
        lines += [
            f"• {p['name']} ({p['active_ingredient']}): {p['dose']}, "
            f"ожидание {p['waiting_period_days']} дн."
            for p in protocol["products"]
        ]
    usage = result["usage"]
    lines += [
        "",
        protocol["safety_notes"],
        "",
        f"Фото в этом месяце: {usage['used']} из {usage['allowed']}",
    ]
    return "\n".join(lines)


class Handlers:
    def __init__(self, telegram: BotAPI, api: AgronomClient) -> None:
        self.telegram = telegram
        self.api = api

    async def handle(self, update: dict[str, Any]) -> None:
        """Process one update; an error is answered to the user, never raised to the loop."""
        try:
            if "callback_query" in update:
                await self._callback(update["callback_query"])
            elif "message" in update:
                await self._message(update["message"])
        except TelegramError as exc:
            log.warning("telegram call failed", error=str(exc), update_id=update.get("update_id"))

    async def _message(self, message: dict[str, Any]) -> None:
        chat = message["chat"]["id"]
        user = message.get("from", {}).get("id")
        if user is None:
            return
        if message.get("photo"):
            await self._photo(chat, user, message["photo"])
            return
        command = (
            (message.get("text") or "").split()[0].split("@")[0] if message.get("text") else ""
        )
        handler = {
            "/start": self._start,
            "/help": self._start,
            "/limits": self._limits,
            "/pro": self._pro,
            "/optin": self._optin,
            "/stop_autopay": self._stop_autopay,
            "/delete_me": self._delete_me,
        }.get(command)
        if handler is None:
            await self.telegram.send_message(chat, "Пришлите фото листа или команду /help")
            return
        try:
            await handler(chat, user)
        except ApiError as exc:
            await self.telegram.send_message(chat, ERRORS.get(exc.error_code, exc.message))

    async def _start(self, chat: int, user: int) -> None:
        limits = await self.api.limits(user)
        await self.telegram.send_message(
            chat, f"{HELP}\n\nВ этом месяце доступно: {_plural_photos(limits['remaining'])}."
        )

    async def _limits(self, chat: int, user: int) -> None:
        limits = await self.api.limits(user)
        text = f"Использовано {limits['used']} из {limits['allowed']} фото за {limits['month']}."
        if limits["plan"] == "pro":
            text += f"\nPRO до {str(limits['pro_expires_at'])[:10]}"
            text += ", автоплатёж включён." if limits["autopay_enabled"] else "."
        await self.telegram.send_message(chat, text)

    async def _pro(self, chat: int, user: int) -> None:
        order = await self.api.pro(user)
        rubles = order["amount"] / 100
        await self.telegram.send_message(
            chat,
            f"PRO на месяц — {rubles:.0f} ₽, оплата через СБП с автопродлением "
            "(отключить: /stop_autopay).",
            buttons=[[{"text": "Оплатить через СБП", "url": order["payment_url"]}]],
        )

    async def _optin(self, chat: int, user: int) -> None:
        current = (await self.api.limits(user))["ml_opt_in"]
        await self.api.consent(user, not current)
        text = (
            "Спасибо! Ваши удачные фото будут храниться в обучающем наборе до 2 лет "
            "(отозвать: /optin)."
            if not current
            else "Согласие отозвано: ваши фото удалены из обучающего набора."
        )
        await self.telegram.send_message(chat, text)

    async def _stop_autopay(self, chat: int, user: int) -> None:
        answer = await self.api.cancel_autopay(user)
        await self.telegram.send_message(
            chat, "Автоплатёж отключён." if answer["changed"] else "Автоплатёж и так не включён."
        )

    async def _delete_me(self, chat: int, user: int) -> None:
        await self.telegram.send_message(
            chat,
            "Удалить все ваши фото, диагнозы и настройки? Платежи хранятся 5 лет по закону "
            "(402-ФЗ), но без связи с вами.",
            buttons=[
                [
                    {"text": "Да, удалить", "callback_data": "dsr:confirm"},
                    {"text": "Отмена", "callback_data": "dsr:cancel"},
                ]
            ],
        )

    async def _photo(self, chat: int, user: int, sizes: list[dict[str, Any]]) -> None:
        best = max(sizes, key=lambda s: s.get("width", 0) * s.get("height", 0))
        image = await self.telegram.download(best["file_id"])
        try:
            result = await self.api.diagnose(
                user, image, file_id=best["file_id"], file_unique_id=best.get("file_unique_id", "")
            )
        except ApiError as exc:
            await self.telegram.send_message(chat, ERRORS.get(exc.error_code, exc.message))
            return
        await self.telegram.send_message(chat, format_diagnosis(result))

    async def _callback(self, query: dict[str, Any]) -> None:
        user = query["from"]["id"]
        chat = (query.get("message") or {}).get("chat", {}).get("id", user)
        data = query.get("data")
        if data == "dsr:confirm":
            try:
                await self.api.delete_me(user)
                text = "Готово: ваши данные удалены."
            except ApiError as exc:
                text = ERRORS.get(exc.error_code, exc.message)
            await self.telegram.answer_callback(query["id"])
            await self.telegram.send_message(chat, text)
        elif data == "dsr:cancel":
            await self.telegram.answer_callback(query["id"], "Отменено")
        else:
            await self.telegram.answer_callback(query["id"])
