# ruff: noqa: RUF001 - the bot speaks Russian to its users
"""What the bot does with an update: an aiogram :class:`Router` of thin handlers. Each handler
calls the Pocket Agronomist API once (through :class:`AgronomClient`, which the dispatcher's
workflow data passes in as ``api``) and answers the user.

Commands: ``/start`` (``/help``), ``/limits``, ``/pro`` (an SBP payment link and a Telegram
Stars subscription link), ``/optin`` (ML-dataset consent toggle), ``/stop_autopay``,
``/delete_me`` (DSR, after a confirmation button), ``/paysupport`` and ``/terms`` (which Telegram
requires of a bot that sells); a photo gets a diagnosis with its protocol; anything else gets a
hint.

Telegram Stars: the bot makes the invoice link (``createInvoiceLink``, a 30-day subscription)
from the API's terms, answers each ``pre_checkout_query`` within Telegram's 10 s (``ok=False``
with a reason when the API refuses or does not answer in :data:`PRE_CHECKOUT_TIMEOUT_S`), and
hands the ``successful_payment`` and ``refunded_payment`` messages to the API, which records
them once and grants or takes back PRO (:mod:`agronom.stars.service`).

Errors are mapped in one place, the router's error handlers: an API refusal (:class:`ApiError`)
is explained to the user in their language, an unreachable API is apologised for, and a Bot API
failure (the user blocked the bot, a file that cannot be fetched) is logged, never raised to the
polling loop or the webhook.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
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
    LabeledPrice,
    Message,
    PhotoSize,
    PreCheckoutQuery,
    RefundedPayment,
    SuccessfulPayment,
    Update,
)

from agronom.bot.backend import AgronomClient, ApiError

log = structlog.get_logger("agronom.bot")

HELP = (
    "Я — Карманный агроном. Пришлите фото больного листа крупным планом при дневном свете, "
    "и я назову болезнь и расскажу, как лечить.\n\n"
    "/limits — сколько фото осталось в этом месяце\n"
    "/pro — подписка PRO через СБП или за Telegram Stars\n"
    "/optin — разрешить или запретить использовать мои фото для обучения модели\n"
    "/stop_autopay — отключить автоплатёж\n"
    "/delete_me — удалить все мои данные\n"
    "/paysupport — вопросы об оплате и возвраты\n"
    "/terms — условия подписки"
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
# The API's abuse limits answer LIMIT_EXCEEDED too; their message says it is not the quota.
# The abuse limits, by the API's ``reason`` (the monthly quota is ERRORS' LIMIT_EXCEEDED).
TOO_MANY = {
    "rate": "Слишком много фото подряд. Подождите минуту и пришлите снова.",
    "daily": (
        "Сегодня уже много фото, на которых не видно листа. Пришлите завтра: один поражённый "
        "лист крупно, при дневном свете."
    ),
}
DELETED = "Готово: ваши данные удалены."
DELETE_SCHEDULED = (
    "Запрос на удаление принят. Удалить всё сразу не получилось, мы закончим автоматически "
    "в течение 30 дней."
)


PRE_CHECKOUT_TIMEOUT_S = 5.0
"""How long the pre-checkout waits for the API: Telegram drops the payment after 10 s."""
PAYMENT_ATTEMPTS = 3
"""Calls to record a Stars payment or refund: Telegram sends the message once, money is taken."""
STARS_INVOICE_TITLE = "PRO на 30 дней"
STARS_INVOICE_TEXT = (
    "Карманный агроном PRO: больше фото в месяц. Подписка продлевается каждые 30 дней, "
    "отменить можно в любой момент в настройках Telegram."
)
CHECKOUT_REFUSED = {
    "currency": "Эту подписку можно оплатить только звёздами Telegram.",
    "price": "Цена изменилась. Запросите новую ссылку: /pro",
    "payload": "Этот счёт устарел. Запросите новую ссылку: /pro",
    "foreign": "Этот счёт выставлен другому пользователю. Запросите свою ссылку: /pro",
}
CHECKOUT_FAILED = "Сервис сейчас недоступен, оплата не прошла. Попробуйте через пару минут."
PAYSUPPORT = (
    "Вопросы об оплате PRO: опишите проблему ответным сообщением или напишите "
    "support@agronom.example, укажите дату платежа. Возврат звёзд Telegram оформляем "
    "в течение 3 рабочих дней, PRO за возвращённый период отключается. Платежи через СБП "
    "возвращаются на счёт, с которого оплачены. Отменить продление: для СБП — /stop_autopay, "
    "для звёзд — в настройках Telegram (Мои звёзды → Подписки)."
)
TERMS = (
    "Условия подписки PRO: доступ к расширенному лимиту фото на 30 дней с момента оплаты, "
    "с автопродлением до отмены. Оплата через СБП (рубли) или звёздами Telegram. "
    "Диагноз — рекомендация, а не гарантия: перед обработкой растений читайте инструкцию "
    "препарата. Вопросы и возвраты: /paysupport. Удалить свои данные: /delete_me."
)


class DsrAction(StrEnum):
    CONFIRM = "confirm"
    CANCEL = "cancel"


class Autopay(CallbackData, prefix="autopay"):
    """The /pro consent button: ``autopay:<version of the terms shown>`` on the wire."""

    terms: str


AUTOPAY_AGREE = "Согласен на автоплатёж"


class Dsr(CallbackData, prefix="dsr"):
    """The /delete_me confirmation buttons: ``dsr:confirm`` and ``dsr:cancel`` on the wire."""

    action: DsrAction


def format_diagnosis(result: dict[str, Any]) -> str:
    """The reply to a photo: diagnosis, confidence, the protocol's steps and products, usage;
    when the model is not sure, the top candidates and a request for another photo instead."""
    protocol = result["protocol"]
    usage_line = f"Фото в этом месяце: {result['usage']['used']} из {result['usage']['allowed']}"
    if protocol is None or not result.get("confident", True):
        return "\n".join(
            [
                "Я не уверен в диагнозе. Пришлите, пожалуйста, ещё одно фото: поражённый лист "
                "крупно, целиком, при дневном свете, без бликов.",
                "",
                "Возможные варианты:",
                *(
                    f"{i}. {c['disease_name']} ({round(c['confidence'] * 100)}%)"
                    for i, c in enumerate(result.get("candidates", []), 1)
                ),
                "",
                "Не обрабатывайте растение наугад, пока болезнь не определена.",
                "",
                usage_line,
            ]
        )
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
    lines += [
        "",
        protocol["safety_notes"],
        "",
        usage_line,
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


async def pro(message: Message, bot: Bot, api: AgronomClient, tg_id: int) -> None:
    terms = await api.stars_invoice(tg_id)
    stars_link = await bot.create_invoice_link(
        title=STARS_INVOICE_TITLE,
        description=STARS_INVOICE_TEXT,
        payload=terms["payload"],
        currency=terms["currency"],
        prices=[LabeledPrice(label="PRO", amount=terms["amount"])],
        subscription_period=terms["subscription_period"],
    )
    stars_button = InlineKeyboardButton(text=f"Оплатить {terms['amount']} ⭐", url=stars_link)
    try:
        order = await api.pro(tg_id)
    except ApiError as exc:
        if exc.status < 500:
            raise
        # T-Bank is down: Stars do not need it.
        log.warning("sbp unavailable, offering stars only", error=exc.message)
        await message.answer(
            f"PRO на 30 дней — {terms['amount']} ⭐ в Telegram Stars с продлением "
            "(отменить: в настройках Telegram). Оплата через СБП сейчас недоступна.",
            reply_markup=InlineKeyboardMarkup(inline_keyboard=[[stars_button]]),
        )
        return
    rubles = order["amount"] / 100
    agree = Autopay(terms=order["autopay_terms_version"]).pack()
    await message.answer(
        f"PRO на месяц — {rubles:.0f} ₽ через СБП, "
        f"или {terms['amount']} ⭐ в Telegram Stars за 30 дней "
        "с продлением (отменить: в настройках Telegram). Условия: /terms\n\n"
        f"{order['autopay_terms']} Чтобы PRO продлевался сам, нажмите «{AUTOPAY_AGREE}».",
        reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[
                [InlineKeyboardButton(text="Оплатить через СБП", url=order["payment_url"])],
                [InlineKeyboardButton(text=AUTOPAY_AGREE, callback_data=agree)],
                [stars_button],
            ]
        ),
    )


async def agree_autopay(
    query: CallbackQuery, callback_data: Autopay, bot: Bot, api: AgronomClient, tg_id: int
) -> None:
    """The user agreed to the autopay terms of this version: the API records it and answers
    with the SBP link that pays and links the account (or only links it, PRO running)."""
    order = await api.pro(tg_id, autopay=True, consent_terms=callback_data.terms)
    await query.answer("Согласие на автоплатёж записано")
    rubles = order["amount"] / 100
    text = (
        f"Оплатите PRO ({rubles:.0f} ₽) и привяжите счёт СБП одним подтверждением в приложении "
        "банка: дальше PRO продлевается сам (отключить: /stop_autopay)."
        if order["mode"] == "pay_and_link"
        else "Привяжите счёт СБП в приложении банка: списания начнутся, когда закончится "
        "оплаченный PRO (отключить: /stop_autopay)."
    )
    link = InlineKeyboardButton(text="Открыть СБП", url=order["payment_url"])
    await bot.send_message(
        _chat_of(query, tg_id), text, reply_markup=InlineKeyboardMarkup(inline_keyboard=[[link]])
    )


async def paysupport(message: Message) -> None:
    await message.answer(PAYSUPPORT)


async def terms(message: Message) -> None:
    await message.answer(TERMS)


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


# ---------------------------------------------------------------- Telegram Stars


async def pre_checkout(query: PreCheckoutQuery, api: AgronomClient, tg_id: int) -> None:
    """Answer within Telegram's deadline, whatever happens: a refusal carries its reason."""
    try:
        verdict = await api.stars_check(tg_id, query, timeout_s=PRE_CHECKOUT_TIMEOUT_S)
    except (ApiError, httpx.HTTPError) as exc:
        log.warning("pre-checkout refused: api failed", error=repr(exc), query_id=query.id)
        await query.answer(ok=False, error_message=CHECKOUT_FAILED)
        return
    if verdict["ok"]:
        await query.answer(ok=True)
    else:
        reason = str(verdict.get("reason"))
        log.info("pre-checkout refused", reason=reason, query_id=query.id)
        await query.answer(ok=False, error_message=CHECKOUT_REFUSED.get(reason, CHECKOUT_FAILED))


async def _recorded(
    call: Callable[[], Awaitable[dict[str, Any]]], charge_id: str
) -> dict[str, Any]:
    """The API's answer to a payment message, retried: Telegram sends it once, and the user
    has paid. A last failure is logged with the charge id for reconciliation, then raised."""
    for attempt in range(1, PAYMENT_ATTEMPTS + 1):
        try:
            return await call()
        except (ApiError, httpx.HTTPError) as exc:
            transient = not isinstance(exc, ApiError) or exc.status >= 500
            if not transient or attempt == PAYMENT_ATTEMPTS:
                log.error("stars payment not recorded", charge_id=charge_id, error=repr(exc))
                raise
            await asyncio.sleep(2 ** (attempt - 1))
    raise AssertionError("unreachable")  # the loop returns or raises


async def paid(
    message: Message, api: AgronomClient, tg_id: int, payment: SuccessfulPayment
) -> None:
    charge = payment.telegram_payment_charge_id
    done = await _recorded(lambda: api.stars_paid(tg_id, payment), charge)
    if not done["applied"]:
        return  # a message delivered twice: answered the first time
    until = str(done["pro_expires_at"])[:10]
    await message.answer(
        f"Спасибо! Оплата {payment.total_amount} ⭐ получена, PRO до {until}."
        if done["reason"] == "applied"
        else "Оплата получена, но она уже возвращена: PRO не продлён. Вопросы: /paysupport"
    )


async def refunded(
    message: Message, api: AgronomClient, tg_id: int, refund: RefundedPayment
) -> None:
    charge = refund.telegram_payment_charge_id
    done = await _recorded(lambda: api.stars_refunded(tg_id, refund), charge)
    if not done["applied"]:
        return
    expires = done["pro_expires_at"]
    await message.answer(
        f"Возврат {refund.total_amount} ⭐ оформлен. "
        + (f"PRO до {str(expires)[:10]}." if expires else "PRO за этот платёж отключён.")
    )


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
    text = ERRORS.get(exc.error_code, exc.message)
    if exc.error_code == "LIMIT_EXCEEDED" and exc.reason in TOO_MANY:
        text = TOO_MANY[exc.reason]
    await _tell(event.update, bot, text)


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
    r.pre_checkout_query.filter(F.from_user.id.as_("tg_id"))

    r.message.register(start, Command("start", "help"))
    r.message.register(show_limits, Command("limits"))
    r.message.register(pro, Command("pro"))
    r.message.register(toggle_optin, Command("optin"))
    r.message.register(stop_autopay, Command("stop_autopay"))
    r.message.register(ask_delete_me, Command("delete_me"))
    r.message.register(paysupport, Command("paysupport"))
    r.message.register(terms, Command("terms"))
    # Payment service messages before the catch-all hint, or the payer would get the hint.
    r.message.register(paid, F.successful_payment.as_("payment"))
    r.message.register(refunded, F.refunded_payment.as_("refund"))
    r.pre_checkout_query.register(pre_checkout)
    r.message.register(diagnose, F.photo.as_("sizes"))
    r.message.register(hint)

    r.callback_query.register(delete_me, Dsr.filter(F.action == DsrAction.CONFIRM))
    r.callback_query.register(cancel_delete_me, Dsr.filter(F.action == DsrAction.CANCEL))
    r.callback_query.register(agree_autopay, Autopay.filter())
    r.callback_query.register(stale_button)

    r.errors.register(api_refused, ExceptionTypeFilter(ApiError))
    r.errors.register(api_unreachable, ExceptionTypeFilter(httpx.HTTPError))
    r.errors.register(telegram_failed, ExceptionTypeFilter(TelegramAPIError, aiohttp.ClientError))
    return r
