"""The sync layer's exceptions: how the engine tells the orchestrator what happened.

Tree::

    SyncError
    ├── TransientStreamError   a page kept failing after the provider layer's retries: retry
    │                          the stream later, it resumes from the ledger
    └── JobError               the JobCall cannot run as it is (never retried)
        ├── JobNotFoundError   no JobCall with that id
        ├── InvalidJobError    its platform, scope or target is not one SM Core knows
        └── NotStoredError     it names a post or profile the store does not hold yet
"""

from __future__ import annotations


class SyncError(Exception):
    """Root of the sync layer's errors."""


class TransientStreamError(SyncError):
    """Retry the stream later: it resumes from the ledger's last cursor."""


class JobError(SyncError):
    """The JobCall cannot run as it is; retrying will not help.

    Attributes:
        job_call_id: the JobCall (None before one was created).
    """

    def __init__(self, message: str, *, job_call_id: int | None = None) -> None:
        super().__init__(message)
        self.job_call_id = job_call_id


class JobNotFoundError(JobError):
    """No JobCall with that id."""


class InvalidJobError(JobError):
    """A platform, scope or target SM Core does not know (a bad request or a bad row)."""


class NotStoredError(JobError):
    """The sync names a post or profile that has not been synced yet."""
