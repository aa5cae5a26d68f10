"""Settings with the seed's SECRETS_MANAGER rule, shared by every app of the workspace.

In development and test every key has a default (and a ``.env`` file is read); with
``APP_ENV=production`` every key is required, and a missing one stops start-up with one line
naming it. Key names are the seed's (``DB_HOST``, ``DB_PORT``, ``DB_USERNAME``, ``DB_PASSWORD``,
``DB_NAME``) plus ``DATABASE_URL`` and ``TEMPORAL_ADDRESS``; apps subclass
:class:`StackSettings` and add theirs.

Where no database or Temporal address is configured, :func:`endpoints` starts the embedded
ones through devstack (they need the ``devstack[embedded]`` extra); with them configured nothing
embedded starts, and nothing embedded is imported.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Self
from urllib.parse import quote

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from devstack import databases
from devstack.errors import DevstackError, SettingsError


class AppEnv(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


# The DB_* group may be replaced by one DATABASE_URL.
_DB_GROUP = ("db_host", "db_port", "db_username", "db_password")


class StackSettings(BaseSettings):
    """Base settings: environment, PostgreSQL and Temporal.

    Subclasses set ``db_name_prefix`` (the database is ``<prefix>_<APP_ENV>`` unless
    ``DB_NAME`` says otherwise) and add their own keys; each key gets a description.
    """

    model_config = SettingsConfigDict(extra="ignore", env_file=None, validate_default=True)

    db_name_prefix: ClassVar[str] = "app"
    # Keys that stay optional in production too (the seed: DB_NAME has a default).
    production_optional: ClassVar[frozenset[str]] = frozenset(
        {"db_name", "devstack_data_dir", "temporal_namespace", "app_env"}
    )

    app_env: AppEnv = Field(
        AppEnv.DEVELOPMENT, description="development | test | production (production: no defaults)"
    )
    database_url: SecretStr | None = Field(
        None,
        description="PostgreSQL URL; when set it replaces DB_HOST/DB_PORT/DB_USERNAME/DB_PASSWORD",
    )
    db_host: str | None = Field(
        None, description="PostgreSQL host; unset in development: the embedded server is used"
    )
    db_port: int = Field(5432, description="PostgreSQL port")
    db_username: str = Field("postgres", description="PostgreSQL user")
    db_password: SecretStr = Field(SecretStr(""), description="PostgreSQL password")
    db_name: str | None = Field(None, description="Database name [default: <app>_<APP_ENV>]")
    temporal_address: str | None = Field(
        None,
        description="Temporal frontend host:port; unset in development: the embedded dev server",
    )
    temporal_namespace: str = Field("default", description="Temporal namespace")
    devstack_data_dir: Path | None = Field(
        None, description="Where the embedded servers keep their data [default: .devstack/]"
    )

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, *, process: str | None = None, **overrides: Any) -> Self:
        """Build the settings once, at an entrypoint; raise :class:`SettingsError` (one line).

        Args:
            process: which of the app's processes loads them (see :meth:`not_needed_by`):
                production then requires only that process's keys. None: every key.
            overrides: values that win over the environment (tests, CLI options).
        """
        env = os.environ.get("APP_ENV", overrides.get("app_env", AppEnv.DEVELOPMENT))
        env_file = None if str(env).lower() == AppEnv.PRODUCTION else ".env"
        try:
            settings = cls(_env_file=env_file, **overrides)  # type: ignore[call-arg]  # pydantic-settings init kwarg
        except ValidationError as exc:
            first = exc.errors()[0]
            key = str(first["loc"][0]).upper() if first["loc"] else "?"
            raise SettingsError(key, f"setting {key}: {first['msg']}") from None
        settings.check_production(process)
        return settings

    @classmethod
    def key(cls, field: str) -> str:
        info = cls.model_fields[field]
        return (info.alias or field).upper()

    @classmethod
    def keys(cls) -> set[str]:
        """Every environment key these settings read."""
        return {cls.key(f) for f in cls.model_fields}

    @classmethod
    def not_needed_by(cls, process: str | None) -> set[str]:
        """Keys that ``process`` never reads, so production need not give them to it (an app
        with several processes overrides this: each process holds only its own secrets)."""
        return set()

    def check_production(self, process: str | None = None) -> None:
        """In production every key ``process`` reads must come from the environment, none
        from a default."""
        if self.app_env is not AppEnv.PRODUCTION:
            return
        given = self.model_fields_set
        skip = set(self.production_optional) | self.not_needed_by(process)
        if "database_url" in given:
            skip.update(_DB_GROUP)
        else:
            skip.add("database_url")
        missing = [self.key(f) for f in type(self).model_fields if f not in skip and f not in given]
        if missing:
            raise SettingsError(
                missing[0],
                f"APP_ENV=production requires {', '.join(missing)}: set "
                f"{'it' if len(missing) == 1 else 'them'} in the environment",
            )

    # ------------------------------------------------------------------ derived
    def database_name(self) -> str:
        return self.db_name or f"{self.db_name_prefix}_{self.app_env.value}"

    def configured_database_url(self) -> str | None:
        """The PostgreSQL URL the settings name, or None when the embedded server is meant."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        if self.db_host is None:
            return None
        user = quote(self.db_username, safe="")
        password = quote(self.db_password.get_secret_value(), safe="")
        auth = f"{user}:{password}" if password else user
        return f"postgresql://{auth}@{self.db_host}:{self.db_port}/{quote(self.database_name())}"


@dataclass(frozen=True)
class Endpoints:
    """Where an app finds its database and Temporal, and whether devstack provides them."""

    database_url: str
    temporal_address: str
    temporal_namespace: str
    embedded_postgres: bool
    embedded_temporal: bool


@contextlib.contextmanager
def endpoints(
    settings: StackSettings, *, postgres: bool = True, temporal: bool = True, keep: bool = False
) -> Iterator[Endpoints]:
    """Yield the configured endpoints, starting embedded servers only for what is not configured.

    Embedded servers this call started are stopped when the block ends, unless ``keep`` (then
    they run on, like after ``devstack up``); ones that were already running are left running.
    The app's database is created on the embedded server if missing.
    """
    database_url = settings.configured_database_url()
    temporal_address = settings.temporal_address
    need_pg = postgres and database_url is None
    need_temporal = temporal and temporal_address is None
    if not (need_pg or need_temporal):
        yield Endpoints(
            database_url or "", temporal_address or "", settings.temporal_namespace, False, False
        )
        return
    # Only now: a configured app (production) never loads the embedded-server modules, and
    # without devstack[embedded] up() stops here with the hint to install it or set the keys.
    from devstack.stack import ensure  # noqa: PLC0415

    with ensure(
        settings.devstack_data_dir, postgres=need_pg, temporal=need_temporal, keep=keep
    ) as info:
        if need_pg:
            if info.database_url is None:  # up() raises first; this keeps the types honest
                raise DevstackError("the embedded PostgreSQL did not start")
            database_url = databases.ensure(info.database_url, settings.database_name())
        yield Endpoints(
            database_url or "",
            temporal_address or info.temporal_address or "",
            settings.temporal_namespace,
            need_pg,
            need_temporal,
        )
