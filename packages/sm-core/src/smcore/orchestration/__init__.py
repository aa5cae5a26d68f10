"""Temporal: workflows, activities, the worker. Thin: the work is in ``smcore.sync``."""

TASK_QUEUE = "sm-core"
