"""The fleet: every monitored account on its cadence (``sync_schedules``), and the dispatcher
that keeps them current within what the providers' rates can serve.

- ``accounts``: import files, adding and removing accounts.
- ``dispatch``: which accounts are due, starting them as batches, closing them (backoff).
- ``status``: the fleet by state, lag against cadence.
- ``plan``: the provider calls a day the fleet needs, against rates and quotas.
"""
