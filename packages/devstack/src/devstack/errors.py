"""Errors raised by devstack.

Tree::

    DevstackError                  root: every failure devstack reports
    ├── ServiceStartError          a server did not come up (carries its log tail)
    └── SettingsError              a setting is missing or invalid (one line, names the key)
"""

from __future__ import annotations


class DevstackError(Exception):
    """Root of devstack's exceptions."""


class ServiceStartError(DevstackError):
    """A server did not become ready.

    Attributes:
        service: ``"postgres"`` or ``"temporal"``.
        log_tail: the last lines of the server's log, for the user to read.
    """

    def __init__(self, service: str, message: str, *, log_tail: str = "") -> None:
        self.service = service
        self.log_tail = log_tail
        detail = f"\n--- last lines of the {service} log ---\n{log_tail}" if log_tail else ""
        super().__init__(f"{service}: {message}{detail}")


class SettingsError(DevstackError):
    """A required setting is missing or invalid; the message is one line naming the key."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(message)
