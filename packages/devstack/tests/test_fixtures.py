"""The pytest fixtures devstack gives every package: clean databases, real Temporal servers."""

from __future__ import annotations

import uuid
from datetime import timedelta

import psycopg
import pytest
from temporalio import workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from devstack.pytest_plugin import DatabaseTemplates


@pytest.mark.parametrize("attempt", [1, 2])
def test_each_test_gets_a_clean_database(database_url: str, attempt: int) -> None:
    """Both runs create the same table: the second would fail if it saw the first's database."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE only_mine (id int primary key)")
        conn.execute("INSERT INTO only_mine VALUES (%s)", (attempt,))
        assert conn.execute("SELECT id FROM only_mine").fetchall() == [(attempt,)]


def test_databases_have_the_extensions(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        names = {r[0] for r in conn.execute("SELECT extname FROM pg_extension").fetchall()}
        assert {"pg_trgm", "unaccent", "vector"} <= names
        assert conn.execute("SELECT unaccent('Ёлка café')").fetchone() == ("Елка cafe",)


def test_templates_are_built_once_and_cloned(database_templates: DatabaseTemplates) -> None:
    calls: list[str] = []

    def setup(url: str) -> None:
        calls.append(url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE seeded AS SELECT 42 AS answer")

    name = database_templates.template("answers", setup)
    assert database_templates.template("answers", setup) == name
    assert len(calls) == 1
    with database_templates.clone(name) as first, database_templates.clone(name) as second:
        assert first != second
        with psycopg.connect(first, autocommit=True) as conn:
            conn.execute("UPDATE seeded SET answer = 0")
        with psycopg.connect(second) as conn:
            assert conn.execute("SELECT answer FROM seeded").fetchone() == (42,)


@workflow.defn(sandboxed=False)
class Sleeper:
    @workflow.run
    async def run(self, days: int) -> str:
        await workflow.sleep(timedelta(days=days))
        return f"slept {days} days"


async def _run_sleeper(env: WorkflowEnvironment, days: int) -> str:
    queue = f"q-{uuid.uuid4()}"
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[Sleeper],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        return await env.client.execute_workflow(
            Sleeper.run, days, id=f"wf-{uuid.uuid4()}", task_queue=queue
        )


async def test_temporal_env_runs_workflows(temporal_env: WorkflowEnvironment) -> None:
    assert await _run_sleeper(temporal_env, 0) == "slept 0 days"


async def test_time_skipping_env_skips_timers(
    temporal_time_skipping_env: WorkflowEnvironment,
) -> None:
    """A week-long timer completes within the test's few seconds."""
    assert await _run_sleeper(temporal_time_skipping_env, 7) == "slept 7 days"
