"""schemathesis against the live API's /openapi.json: no server errors, no schema violations.

The API runs under uvicorn on loopback over a real database, with every request signed as a
bot user (so the routes behind the signature are exercised too, not only their 401s). The
signature covers each request's method, path and body and is good once, so a static header
cannot do: schemathesis sends ``X-Telegram-User: bot`` and a thin ASGI layer in front of the
API replaces it with the bot's signature over the request as it arrived.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from agronom import auth
from agronom.api.app import create_app
from agrosim.server import ThreadedServer
from agrosim.tbank import TBankSim

from ..conftest import BOT_SECRET, TBANK_PASSWORD, TERMINAL  # noqa: TID252

_MARK = b"bot"

CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
    )
)


def signing_as_the_bot(app: Any, tg_id: int) -> Any:
    """``app`` behind a layer that signs requests marked ``X-Telegram-User: bot`` for ``tg_id``
    over their method, path and body, as the bot would have."""
    name = auth.HEADER.lower().encode()

    async def signed(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or (name, _MARK) not in scope["headers"]:
            await app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        target = scope["raw_path"].decode("latin-1")
        if scope["query_string"]:
            target += "?" + scope["query_string"].decode("latin-1")
        value = auth.sign(
            tg_id,
            secret=BOT_SECRET,
            now=time.time(),
            method=scope["method"],
            target=target,
            body=body,
        )
        headers = [(k, v) for k, v in scope["headers"] if k != name]
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if replayed:
                return dict(await receive())
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await app({**scope, "headers": [*headers, (name, value.encode())]}, replay, send)

    return signed


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    settings, database_url, store, tmp_path: Path
) -> None:
    tbank = TBankSim(terminal_key=TERMINAL, password=TBANK_PASSWORD)
    header = (auth.HEADER, _MARK.decode())
    with ThreadedServer(tbank.app()) as bank:
        settings = settings.model_copy(update={"tbank_api_base": f"{bank.url}/v2"})
        app = create_app(settings, database_url=database_url, store=store)
        server = ThreadedServer(signing_as_the_bot(app, 4242)).start()
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "run",
                f"{server.url}/openapi.json",
                "--checks",
                CHECKS,
                "--max-examples",
                "30",
                "--max-time",
                "30",
                "--workers",
                "1",
                "--phases",
                "examples,coverage,fuzzing",
                "--header",
                f"{header[0]}: {header[1]}",
                "--report-dir",
                str(tmp_path),
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
            cwd=tmp_path,
        )
        server.stop()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "No issues found" in output or "passed" in output, output[-3000:]
