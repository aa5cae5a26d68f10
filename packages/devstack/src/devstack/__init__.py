"""devstack: the embedded PostgreSQL + Temporal stack every app of this workspace runs on.

Python API::

    from devstack import Stack, ensure

    info = Stack().up()          # or: with ensure() as info: ...
    info.database_url, info.temporal_address
    Stack().down()
"""

from devstack.errors import DevstackError, ServiceStartError, SettingsError
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
