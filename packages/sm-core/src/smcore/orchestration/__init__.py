"""Temporal: workflows, activities, the worker. Thin: the work is in ``smcore.sync``."""

TASK_QUEUE = "sm-core"


def task_queue(database: str) -> str:
    """The task queue of one database's syncs. Databases sharing a Temporal namespace (tests,
    staging copies) then never run each other's workflows: a worker serves only its own."""
    return f"{TASK_QUEUE}.{database}" if database else TASK_QUEUE
