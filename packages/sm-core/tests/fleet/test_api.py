"""``/api/v1/fleet`` over a real migrated database: import, status, accounts, remove, plan."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest_asyncio

from smcore.api.app import create_app
from smcore.settings import Settings

KEY = {"X-API-Key": "k1"}


@pytest_asyncio.fixture
async def api(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(api_keys="k1", rocket_rate_limit_rps=0.001)  # type: ignore[arg-type]  # SecretStr from str
    app = create_app(settings, database_url=database_url, temporal_address=None)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client


CSV = "platform,username,cadence\ninstagram,anna,1h\ninstagram,bad name,1d\ninstagram,ivan,\n"


async def test_import_status_list_plan_and_remove(api: httpx.AsyncClient) -> None:
    csv = {"content-type": "text/csv", **KEY}
    assert (await api.post("/api/v1/fleet/import", content=CSV)).status_code == 401
    response = await api.post("/api/v1/fleet/import", content=CSV, headers=csv)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "rows": 3,
        "added": 2,
        "updated": 0,
        "duplicates": 0,
        "bad": [{"line": 3, "reason": "'bad name' is not an Instagram username"}],
    }
    jsonl = '{"platform": "youtube", "ext_id": "UCabcdefghijklmnopqrstuv", "cadence": "7d"}\n'
    response = await api.post(
        "/api/v1/fleet/import",
        content=jsonl,
        headers={"content-type": "application/x-ndjson", **KEY},
    )
    assert response.json()["added"] == 1
    bad_type = await api.post("/api/v1/fleet/import", content=CSV, headers=KEY)
    assert bad_type.status_code == 415
    not_utf8 = await api.post("/api/v1/fleet/import", content=b"\xff\xfe", headers=csv)
    assert not_utf8.status_code == 422
    headless = await api.post("/api/v1/fleet/import", content="instagram,anna\n", headers=csv)
    assert headless.status_code == 422 and "first line" in headless.json()["detail"]

    status = (await api.get("/api/v1/fleet")).json()
    assert status["accounts"] == 3 and status["by_state"]["due"] == 3
    assert status["by_platform"]["youtube"]["due"] == 1
    listed = (await api.get("/api/v1/fleet/accounts", params={"platform": "instagram"})).json()
    assert [(a["username"], a["cadence_s"], a["state"]) for a in listed] == [
        ("anna", 3600, "due"),
        ("ivan", 86400, "due"),
    ]
    plan = (await api.get("/api/v1/fleet/plan")).json()
    rocket = next(p for p in plan["providers"] if p["provider"] == "rocket")
    assert rocket["accounts"] == 2 and not plan["feasible"]  # 0.001 req/s is ~86 calls a day
    assert "cannot be met" in rocket["verdict"]

    gone = await api.delete("/api/v1/fleet/accounts/instagram/@Anna", headers=KEY)
    assert gone.status_code == 204
    again = await api.delete("/api/v1/fleet/accounts/instagram/anna", headers=KEY)
    assert again.status_code == 404
    assert (await api.get("/api/v1/fleet")).json()["accounts"] == 2
