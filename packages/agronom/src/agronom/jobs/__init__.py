"""Scheduled jobs (contract sections 1 and 5) as Temporal Schedules; the work is in ``service``."""

TASK_QUEUE = "agronom-jobs"
