"""The bot's X-Telegram-User header signs one request: its method, path with query, body,
time and a nonce used once. Replays, and the header moved to another request, are refused;
during a rotation the previous secret is accepted only while BOT_API_SECRET_PREVIOUS is set."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from pydantic import SecretStr

from agronom.api.app import create_app

from ..conftest import BOT_SECRET  # noqa: TID252 - tests are no package


async def test_a_replayed_request_is_refused(api, sign, sql) -> None:
    header = sign.header(77, method="GET", target="/v1/limits")
    first = await api.get("/v1/limits", headers=header)
    assert first.status_code == 200, first.text
    again = await api.get("/v1/limits", headers=header)
    assert again.status_code == 401
    assert again.json()["error_code"] == "UNAUTHORIZED"
    assert "replayed" in again.json()["message"]
    assert sql("SELECT scope FROM seen_nonces") == [("bot",)]


async def test_a_replayed_deletion_request_is_refused(api, sign, sql) -> None:
    body = b"{}"
    header = sign.header(78, method="POST", target="/v1/dsr/delete_user", body=body)
    headers = {**header, "content-type": "application/json"}
    assert (await api.get("/v1/limits", auth=sign(78))).status_code == 200
    first = await api.post("/v1/dsr/delete_user", headers=headers, content=body)
    assert first.status_code == 200, first.text
    assert (await api.get("/v1/limits", auth=sign(78))).status_code == 200  # back again
    replayed = await api.post("/v1/dsr/delete_user", headers=headers, content=body)
    assert replayed.status_code == 401
    assert sql("SELECT count(*) FROM users WHERE tg_id = 78") == [(1,)]


async def test_the_header_is_refused_on_another_path_method_or_body(api, sign) -> None:
    body = json.dumps({"enabled": True}).encode()
    target = "/v1/ml/consent"

    def put(method: str = "PUT", path: str = target) -> dict[str, str]:
        """A header signed for ``method path`` with ``body``."""
        header = sign.header(79, method=method, target=path, body=body)
        return {**header, "content-type": "application/json"}

    refusals = [
        await api.put(target, headers=put(path="/v1/ml/consent?x=1"), content=body),
        await api.put("/v1/ml/consent?x=1", headers=put(), content=body),
        await api.put(target, headers=put(method="POST"), content=body),
        await api.put(target, headers=put(), content=json.dumps({"enabled": False}).encode()),
        await api.get("/v1/limits", headers=put()),
    ]
    for refused in refusals:
        assert refused.status_code == 401, refused.text
        assert "does not match" in refused.json()["message"]
    exact = await api.put(target, headers=put(), content=body)
    assert exact.status_code == 200, exact.text


async def test_the_query_is_signed_too(api, sign) -> None:
    signed = sign.header(80, method="GET", target="/v1/limits?a=1")
    assert (await api.get("/v1/limits?a=2", headers=signed)).status_code == 401
    assert (await api.get("/v1/limits?a=1", headers=signed)).status_code == 200
    assert (await api.get("/v1/limits", params={"q": "ü x"}, auth=sign(80))).status_code == 200


async def test_the_old_format_without_nonce_or_binding_is_refused(api) -> None:
    old = {"X-Telegram-User": "81:1767225600:" + "a" * 64}
    response = await api.get("/v1/limits", headers=old)
    assert response.status_code == 401
    assert "<nonce>" in response.json()["message"]


@asynccontextmanager
async def _api(settings, database_url, store, clock, **update) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        settings.model_copy(update=update), database_url=database_url, store=store, clock=clock
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client,
    ):
        yield client


async def test_the_previous_secret_is_accepted_only_during_a_rotation(
    settings, database_url, store, clock, sign
) -> None:
    rotating = {"bot_api_secret": SecretStr("new-bot-secret")}
    previous = {"bot_api_secret_previous": SecretStr(BOT_SECRET)}
    async with _api(settings, database_url, store, clock, **rotating, **previous) as api:
        assert (await api.get("/v1/limits", auth=sign(82))).status_code == 200
        new = sign(82, secret="new-bot-secret")
        assert (await api.get("/v1/limits", auth=new)).status_code == 200
        foreign = await api.get("/v1/limits", auth=sign(82, secret="someone-else"))
        assert foreign.status_code == 401
    async with _api(settings, database_url, store, clock, **rotating) as api:
        old = await api.get("/v1/limits", auth=sign(82))
        assert old.status_code == 401
        assert "does not match" in old.json()["message"]
        assert (await api.get("/v1/limits", auth=new)).status_code == 200
