"""schemathesis against the live API's /openapi.json: no server errors, no schema violations.

The API runs under uvicorn on loopback over a real database, with every request signed as a
bot user (so the routes behind the signature are exercised too, not only their 401s).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from agronom.api.app import create_app
from agrosim.server import ThreadedServer
from agrosim.tbank import TBankSim

from ..conftest import TBANK_PASSWORD, TERMINAL  # noqa: TID252

CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
    )
)


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    settings, database_url, store, sign, tmp_path: Path
) -> None:
    tbank = TBankSim(terminal_key=TERMINAL, password=TBANK_PASSWORD)
    header = next(iter(sign(4242).items()))
    with ThreadedServer(tbank.app()) as bank:
        settings = settings.model_copy(update={"tbank_api_base": f"{bank.url}/v2"})
        app = create_app(settings, database_url=database_url, store=store)
        server = ThreadedServer(app).start()
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
