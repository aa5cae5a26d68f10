# ruff: noqa: RUF001 - the bot speaks Russian to its users
"""What the bot does with an update: an aiogram :class:`Router` of thin handlers. Each handler
calls the Pocket Agronomist API once (through :class:`AgronomClient`, which the dispatcher's
workflow data passes in as ``api``) and answers the user.

Commands: ``/start`` (``/help``), ``/limits``, ``/pro`` (payment link), ``/optin`` (ML-dataset
consent toggle), ``/stop_autopay``, ``/delete_me`` (DSR, after a confirmation button); a photo
gets a diagnosis with its protocol; anything else gets a hint.

Errors are mapped in one place, the router's error handlers: an API refusal (:class:`ApiError`)
is explained to the user in their language, an unreachable API is apologised for, and a Bot API
failure (the user blocked the bot, a file that cannot be fetched) is logged, never raised to the
polling loop or the webhook.
"""

from __future__ import annotations

from enum import StrEnum
from io import BytesIO
from typing import Any, cast

import aiohttp
import httpx
import structlog
from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, ExceptionTypeFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    CallbackQuery,
    ErrorEvent,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    PhotoSize,
    Update,
)

from agronom.bot.backend import AgronomClient, ApiError

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
HINT = "Пришлите фото листа или команду /help"
ERRORS = {
    "NO_LEAF": "На фото не видно листа. Сфотографируйте поражённый лист крупно, при дневном свете.",
    "LIMIT_EXCEEDED": "Бесплатные фото в этом месяце закончились. Лимит обновится 1-го числа, "
    "а с PRO можно больше: /pro",
    "GPT_TIMEOUT": "Модель сейчас не отвечает, фото не засчитано. Попробуйте через пару минут.",
    "BAD_REQUEST": "Не получилось прочитать фото. Пришлите его как фото, не как файл.",
    "UNAUTHORIZED": "Ошибка авторизации бота. Мы уже разбираемся.",
}
UNAVAILABLE = "Сервис сейчас недоступен. Попробуйте через пару минут."
DELETED = "Готово: ваши данные удалены."
DELETE_SCHEDULED = (
    "Запрос на удаление принят. Удалить всё сразу не получилось, мы закончим автоматически "
    "в течение 30 дней."
)


class DsrAction(StrEnum):
    CONFIRM = "confirm"
    CANCEL = "cancel"


class Dsr(CallbackData, prefix="dsr"):
    """The /delete_me confirmation buttons: ``dsr:confirm`` and ``dsr:cancel`` on the wire."""

    action: DsrAction


def format_diagnosis(result: dict[str, Any]) -> str:
    """The reply to a photo: diagnosis, confidence, the protocol's steps and products, usage."""
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


# ---------------------------------------------------------------- commands


async def start(message: Message, api: AgronomClient, tg_id: int) -> None:
    limits = await api.limits(tg_id)
    await message.answer(f"{HELP}\n\nВ этом месяце доступно: {limits['remaining']} фото.")


async def show_limits(message: Message, api: AgronomClient, tg_id: int) -> None:
    limits = await api.limits(tg_id)
    text = f"Использовано {limits['used']} из {limits['allowed']} фото за {limits['month']}."
    if limits["plan"] == "pro":
        text += f"\nPRO до {str(limits['pro_expires_at'])[:10]}"
        text += ", автоплатёж включён." if limits["autopay_enabled"] else "."
    await message.answer(text)


async def pro(message: Message, api: AgronomClient, tg_id: int) -> None:
    order = await api.pro(tg_id)
    rubles = order["amount"] / 100
    await message.answer(
        f"PRO на месяц — {rubles:.0f} ₽, оплата через СБП с автопродлением "
        "(отключить: /stop_autopay).",
        reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[
                [InlineKeyboardButton(text="Оплатить через СБП", url=order["payment_url"])]
            ]
        ),
    )


async def toggle_optin(message: Message, api: AgronomClient, tg_id: int) -> None:
    current = (await api.limits(tg_id))["ml_opt_in"]
    await api.consent(tg_id, not current)
    await message.answer(
        "Спасибо! Ваши удачные фото будут храниться в обучающем наборе до 2 лет (отозвать: /optin)."
        if not current
        else "Согласие отозвано: ваши фото удалены из обучающего набора."
    )


async def stop_autopay(message: Message, api: AgronomClient, tg_id: int) -> None:
    answer = await api.cancel_autopay(tg_id)
    await message.answer(
        "Автоплатёж отключён." if answer["changed"] else "Автоплатёж и так не включён."
    )


async def ask_delete_me(message: Message) -> None:
    await message.answer(
        "Удалить все ваши фото, диагнозы и настройки? Платежи хранятся 5 лет по закону "
        "(402-ФЗ), но без связи с вами.",
        reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(
                        text="Да, удалить", callback_data=Dsr(action=DsrAction.CONFIRM).pack()
                    ),
                    InlineKeyboardButton(
                        text="Отмена", callback_data=Dsr(action=DsrAction.CANCEL).pack()
                    ),
                ]
            ]
        ),
    )


async def diagnose(
    message: Message, bot: Bot, api: AgronomClient, tg_id: int, sizes: list[PhotoSize]
) -> None:
    best = max(sizes, key=lambda s: s.width * s.height)
    image = BytesIO()
    await bot.download(best, destination=image)
    result = await api.diagnose(
        tg_id, image.getvalue(), file_id=best.file_id, file_unique_id=best.file_unique_id
    )
    await message.answer(format_diagnosis(result))


async def hint(message: Message) -> None:
    await message.answer(HINT)


# ---------------------------------------------------------------- buttons


async def delete_me(query: CallbackQuery, bot: Bot, api: AgronomClient, tg_id: int) -> None:
    done = await api.delete_me(tg_id)
    await query.answer()
    text = DELETE_SCHEDULED if done.get("status") == "scheduled" else DELETED
    await bot.send_message(_chat_of(query, tg_id), text)


async def cancel_delete_me(query: CallbackQuery) -> None:
    await query.answer("Отменено")


async def stale_button(query: CallbackQuery) -> None:
    """A button this bot no longer knows: stop the client's spinner, nothing else."""
    await query.answer()


def _chat_of(query: CallbackQuery, tg_id: int) -> int:
    return query.message.chat.id if query.message is not None else tg_id


# ---------------------------------------------------------------- errors


async def _tell(update: Update, bot: Bot, text: str) -> None:
    """Answer the user whose update failed: a message in their chat, a button's spinner stopped."""
    if update.message is not None:
        await update.message.answer(text)
    elif update.callback_query is not None:
        query = update.callback_query
        await query.answer()
        await bot.send_message(_chat_of(query, query.from_user.id), text)


async def api_refused(event: ErrorEvent, bot: Bot) -> None:
    exc = cast(ApiError, event.exception)  # ExceptionTypeFilter(ApiError) lets only these in
    log.info("api refused", error_code=exc.error_code, update_id=event.update.update_id)
    await _tell(event.update, bot, ERRORS.get(exc.error_code, exc.message))


async def api_unreachable(event: ErrorEvent, bot: Bot) -> None:
    log.error("api unreachable", error=repr(event.exception), update_id=event.update.update_id)
    await _tell(event.update, bot, UNAVAILABLE)


async def telegram_failed(event: ErrorEvent) -> None:
    """Telegram refused a call (the user blocked the bot, a file is gone): log it and go on."""
    log.warning(
        "telegram call failed", error=str(event.exception), update_id=event.update.update_id
    )


def router() -> Router:
    """A fresh router with every handler (a router can belong to one dispatcher only)."""
    r = Router(name="agronom")
    # Updates without a sender (anonymous group admins) are not ours to answer; the sender's
    # Telegram id is what every API call is signed for, so the filter hands it in as ``tg_id``.
    r.message.filter(F.from_user.id.as_("tg_id"))
    r.callback_query.filter(F.from_user.id.as_("tg_id"))

    r.message.register(start, Command("start", "help"))
    r.message.register(show_limits, Command("limits"))
    r.message.register(pro, Command("pro"))
    r.message.register(toggle_optin, Command("optin"))
    r.message.register(stop_autopay, Command("stop_autopay"))
    r.message.register(ask_delete_me, Command("delete_me"))
    r.message.register(diagnose, F.photo.as_("sizes"))
    r.message.register(hint)

    r.callback_query.register(delete_me, Dsr.filter(F.action == DsrAction.CONFIRM))
    r.callback_query.register(cancel_delete_me, Dsr.filter(F.action == DsrAction.CANCEL))
    r.callback_query.register(stale_button)

    r.errors.register(api_refused, ExceptionTypeFilter(ApiError))
    r.errors.register(api_unreachable, ExceptionTypeFilter(httpx.HTTPError))
    r.errors.register(telegram_failed, ExceptionTypeFilter(TelegramAPIError, aiohttp.ClientError))
    return r
