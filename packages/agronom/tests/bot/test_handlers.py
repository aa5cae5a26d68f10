# ruff: noqa: RUF001 - the bot speaks Russian
"""The bot's handlers, driven by Telegram updates fed through aiogram's dispatcher, with Telegram
faked at its HTTP server and the real API (database, vision server, T-Bank simulator) behind."""

from __future__ import annotations

import httpx

from agronom.bot import runner
from agronom.bot.backend import AgronomClient
from agrosim import photos
from agrosim.server import free_port
from agrosim.vision import Faults

from ..conftest import BOT_SECRET  # noqa: TID252
from .conftest import Bench, Chat  # noqa: TID252


async def test_start_greets_with_the_free_quota(bench: Bench) -> None:
    text = await bench.chat(5001).say("/start")
    assert "Карманный агроном" in text and "доступно: 3 фото" in text
    assert bench.telegram.sent()[-1]["chat_id"] == "5001"


async def test_a_command_addressed_to_this_bot_by_name_is_answered(bench: Bench) -> None:
    text = await bench.chat(5011).say("/limits@agronom_test_bot")
    assert text.startswith("Использовано 0 из 3 фото")
    assert "getMe" in bench.telegram.methods(), "the mention is checked against the bot's name"


async def test_a_photo_gets_a_diagnosis_with_its_protocol(bench: Bench, sql, vision) -> None:
    chat = bench.chat(5002)
    assert (await chat.say("/limits")).startswith("Использовано 0 из 3")
    text = await chat.photo(photos.leaf(spots="brown"))
    assert text.startswith("Диагноз: фитофтороз (уверенность ")
    assert "Что делать:\n1. " in text and "Фото в этом месяце: 1 из 3" in text
    getfile = [p for m, p in bench.telegram.calls if m == "getFile"]
    assert getfile == [{"file_id": "AgADphoto1"}], "only the largest size is fetched"
    assert bench.telegram.downloads == ["photos/file_0.jpg"]
    assert sql("SELECT file_id, file_unique_id, status::text FROM photos") == [
        ("AgADphoto1", "u-AgADphoto1", "ok")
    ]
    assert (await chat.say("/limits")).startswith("Использовано 1 из 3")


async def test_no_leaf_a_model_timeout_and_the_quota_are_explained(bench: Bench, vision) -> None:
    chat = bench.chat(5003)
    assert "не видно листа" in await chat.photo(photos.wall(), "wall")
    vision.faults = Faults(slow_next=3, slow_s=1.0)
    assert "не отвечает" in await chat.photo(photos.leaf(seed=7), "slow")
    for n in range(3):
        assert "Диагноз:" in await chat.photo(photos.leaf(seed=n), f"leaf{n}")
    assert await chat.photo(photos.leaf(), "leaf9") == (
        "Бесплатные фото в этом месяце закончились. Лимит обновится 1-го числа, "
        "а с PRO можно больше: /pro"
    )
    assert (await chat.say("/limits")).startswith("Использовано 3 из 3")


async def test_pro_sends_an_sbp_payment_link(bench: Bench, tbank_server: str) -> None:
    await bench.chat(5004).say("/pro")
    reply = bench.telegram.sent()[-1]
    assert "199 ₽" in reply["text"]
    buttons = {b["text"]: b for [b] in reply["reply_markup"]["inline_keyboard"]}
    sbp = buttons["Оплатить через СБП"]
    assert sbp["url"].startswith("https://qr.nspk.ru/"), "the SBP link of Init + GetQr"
    assert reply["link_preview_options"] == {"is_disabled": True}


async def test_autopay_starts_only_when_the_user_agrees_to_its_terms(bench: Bench, sql) -> None:
    """/pro shows the autopay terms and a consent button beside the one-off payment; pressing
    it records the consent and answers with the SBP link that pays and links the account."""
    chat = bench.chat(5011)
    await chat.say("/pro")
    reply = bench.telegram.sent()[-1]
    assert "Автоплатёж: 199 ₽ в месяц" in reply["text"]
    buttons = {b["text"]: b for [b] in reply["reply_markup"]["inline_keyboard"]}
    agree = buttons["Согласен на автоплатёж"]["callback_data"]
    assert agree.startswith("autopay:")
    assert sql("SELECT * FROM sbp_account_links") == [], "no autopay before consent"
    await chat.press(agree, "cb-autopay")
    assert (
        "answerCallbackQuery",
        {"callback_query_id": "cb-autopay", "text": "Согласие на автоплатёж записано"},
    ) in bench.telegram.calls
    link = bench.telegram.sent()[-1]
    assert link["text"].startswith("Оплатите PRO (199 ₽) и привяжите счёт СБП")
    [[open_sbp]] = link["reply_markup"]["inline_keyboard"]
    assert open_sbp["url"].startswith("https://qr.nspk.ru/")
    assert sql("SELECT status, consent_version FROM sbp_account_links") == [
        ("PROCESSING", agree.split(":", 1)[1])
    ]
    assert sql("SELECT event FROM events") == [("autopay_consent",)]


async def test_optin_toggles_the_dataset_consent(bench: Bench, sql) -> None:
    chat = bench.chat(5005)
    assert (await chat.say("/optin")).startswith("Спасибо!")
    assert (await chat.say("/optin")).startswith("Согласие отозвано")
    assert (await chat.say("/optin")).startswith("Спасибо!")
    assert [e for (e,) in sql("SELECT event FROM events ORDER BY id")] == [
        "ml_opt_in",
        "ml_opt_out",
        "ml_opt_in",
    ]


async def test_stop_autopay_turns_it_off_once(bench: Bench, sql) -> None:
    chat = bench.chat(5009)
    assert await chat.say("/stop_autopay") == "Автоплатёж и так не включён."
    sql("UPDATE users SET autopay_enabled = true WHERE tg_id = 5009 RETURNING id")
    assert await chat.say("/stop_autopay") == "Автоплатёж отключён."
    assert sql.one("SELECT autopay_enabled FROM users WHERE tg_id = 5009") is False


async def test_delete_me_asks_then_deletes_everything(bench: Bench, sql, vision) -> None:
    chat = bench.chat(5006)
    await chat.photo(photos.leaf())
    await chat.say("/delete_me")
    buttons = bench.telegram.sent()[-1]["reply_markup"]["inline_keyboard"][0]
    assert [b["callback_data"] for b in buttons] == ["dsr:confirm", "dsr:cancel"]
    await chat.press("dsr:cancel", "cb-cancel")
    assert ("answerCallbackQuery", {"callback_query_id": "cb-cancel", "text": "Отменено"}) in (
        bench.telegram.calls
    )
    assert sql.one("SELECT count(*) FROM users") == 1, "nothing deleted without the confirmation"
    await chat.press("dsr:confirm", "cb-confirm")
    done = bench.telegram.sent()[-1]
    assert (done["chat_id"], done["text"]) == ("5006", "Готово: ваши данные удалены.")
    assert sql("SELECT * FROM users") == [] and sql("SELECT * FROM photos") == []
    assert bench.telegram.methods().count("answerCallbackQuery") == 2


async def test_a_stale_button_only_stops_the_spinner(bench: Bench) -> None:
    await bench.chat(5010).press("optin:old")
    assert bench.telegram.calls == [("answerCallbackQuery", {"callback_query_id": "cb1"})]


async def test_anything_else_gets_a_hint(bench: Bench) -> None:
    assert await bench.chat(5012).say("привет") == "Пришлите фото листа или команду /help"
    assert await bench.chat(5012).say("/unknown") == "Пришлите фото листа или команду /help"


async def test_a_user_who_blocked_the_bot_is_logged_not_raised(bench: Bench, sql) -> None:
    bench.telegram.refuse["sendMessage"] = (403, "Forbidden: bot was blocked by the user")
    await bench.chat(5013).say("/start")
    assert bench.telegram.methods() == ["sendMessage"]
    assert sql.one("SELECT count(*) FROM users") == 1, "the API call was made"


async def test_an_unreachable_api_is_apologised_for(bench: Bench) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{free_port()}") as nowhere:
        dp = runner.dispatcher(AgronomClient(nowhere, secret=BOT_SECRET))
        await Chat(Bench(dp, bench.bot, bench.telegram, bench.api_http), 5014).say("/limits")
    assert (
        bench.telegram.sent()[-1]["text"]
        == "Сервис сейчас недоступен. Попробуйте через пару минут."
    )


async def test_a_bot_with_the_wrong_api_secret_says_so(bench: Bench) -> None:
    dp = runner.dispatcher(AgronomClient(bench.api_http, secret="not-the-bot-secret"))
    text = await Chat(Bench(dp, bench.bot, bench.telegram, bench.api_http), 5015).say("/limits")
    assert text == "Ошибка авторизации бота. Мы уже разбираемся."
