"""Object storage behind one interface: the local filesystem by default, the S3 API in production.

Key layout (the contract's section 1; ``<ref>`` is the user's pseudonymous reference, so a
user's objects are found by prefix for DSR without naming the user)::

    photos/<ref>/<photo_id>.jpg              TTL 90 days (S3 lifecycle rule; the expiry job too)
    ml-dataset/<ref>/<photo_id>.jpg|.json    opted-in users' ok photos, TTL 2 years
    exports/daily/<YYYY-MM-DD>/...           daily metrics for Metabase

Writes are atomic on both backends: a temp file and ``os.replace`` locally, a single PUT on S3.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from agronom.errors import BadRequest
from agronom.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

PHOTOS = "photos/"
DATASET = "ml-dataset/"
EXPORTS = "exports/"
PHOTO_TTL_DAYS = 90
DATASET_TTL_DAYS = 730


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    modified: datetime  # naive UTC


class ObjectStore(Protocol):
    """What the services need from an object store."""

    async def put(self, key: str, data: bytes, *, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes: ...

    async def delete(self, key: str) -> None:
        """Delete ``key``; a missing key is not an error (deletes are retried)."""

    async def list(self, prefix: str) -> list[StoredObject]: ...

    async def exists(self, key: str) -> bool: ...

    async def ping(self) -> None:
        """Raise unless the store can be read and written now (for ``/health``)."""


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts[:-1]):
        raise BadRequest(f"bad object key {key!r}")
    return key


class LocalStore:
    """Objects as files under one root folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        await asyncio.to_thread(self._put, self._path(key), data)

    @staticmethod
    def _put(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            Path(tmp).replace(path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._path(key).read_bytes)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)

    async def list(self, prefix: str) -> list[StoredObject]:
        return await asyncio.to_thread(lambda: list(self._walk(prefix)))

    async def ping(self) -> None:
        def check() -> None:
            self.root.mkdir(parents=True, exist_ok=True)
            if not os.access(self.root, os.R_OK | os.W_OK | os.X_OK):
                raise PermissionError(f"{self.root} is not readable and writable")

        await asyncio.to_thread(check)

    def _walk(self, prefix: str) -> Iterator[StoredObject]:
        if not self.root.is_dir():
            return
        for path in sorted(self.root.rglob("*")):
            if not path.is_file() or path.name.startswith(".tmp-"):
                continue
            key = path.relative_to(self.root).as_posix()
            if key.startswith(prefix):
                stat = path.stat()
                modified = datetime.fromtimestamp(stat.st_mtime, UTC).replace(tzinfo=None)
                yield StoredObject(key, stat.st_size, modified)


class S3Store:
    """Objects in one S3 bucket (any S3-compatible service: AWS, Yandex Object Storage, MinIO).

    boto3 is synchronous: calls run in a worker thread so the event loop never blocks.
    """

    def __init__(self, client: S3Client, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Store:
        import boto3  # noqa: PLC0415 - only deployments on S3 pay for importing boto3
        from botocore.config import Config  # noqa: PLC0415

        client = boto3.client(
            "s3",
            # Fail within seconds when the store is down: callers retry (jobs) or defer (DSR).
            config=Config(
                connect_timeout=5,
                read_timeout=60,
                retries={"mode": "standard", "max_attempts": 3},
            ),
            endpoint_url=settings.s3_endpoint_url,
            region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key_id.get_secret_value() or None,
            aws_secret_access_key=settings.s3_secret_access_key.get_secret_value() or None,
        )
        return cls(client, settings.s3_bucket)

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        await asyncio.to_thread(
            self.client.put_object,
            Bucket=self.bucket,
            Key=_check_key(key),
            Body=data,
            ContentType=content_type,
        )

    async def get(self, key: str) -> bytes:
        response = await asyncio.to_thread(
            self.client.get_object, Bucket=self.bucket, Key=_check_key(key)
        )
        body: bytes = await asyncio.to_thread(response["Body"].read)
        return body

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket, Key=_check_key(key))

    async def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError  # noqa: PLC0415

        try:
            await asyncio.to_thread(self.client.head_object, Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    async def list(self, prefix: str) -> list[StoredObject]:
        def run() -> list[StoredObject]:
            found: list[StoredObject] = []
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    modified = item["LastModified"].astimezone(UTC).replace(tzinfo=None)
                    found.append(StoredObject(item["Key"], item["Size"], modified))
            return found

        return await asyncio.to_thread(run)

    async def ping(self) -> None:
        await asyncio.to_thread(self.client.head_bucket, Bucket=self.bucket)

    async def ensure_bucket(self) -> None:
        """Create the bucket if missing and set the contract's lifecycle rules on it."""
        from botocore.exceptions import ClientError  # noqa: PLC0415

        try:
            await asyncio.to_thread(self.client.head_bucket, Bucket=self.bucket)
        except ClientError:
            await asyncio.to_thread(self.client.create_bucket, Bucket=self.bucket)
        await asyncio.to_thread(
            self.client.put_bucket_lifecycle_configuration,
            Bucket=self.bucket,
            LifecycleConfiguration={"Rules": lifecycle_rules()},  # type: ignore[typeddict-item]
        )


def lifecycle_rules() -> list[dict[str, Any]]:
    """The contract's TTLs as S3 lifecycle rules: photos 90 days, ML dataset 2 years."""
    return [
        {
            "ID": "photos-ttl-90d",
            "Filter": {"Prefix": PHOTOS},
            "Status": "Enabled",
            "Expiration": {"Days": PHOTO_TTL_DAYS},
        },
        {
            "ID": "ml-dataset-ttl-2y",
            "Filter": {"Prefix": DATASET},
            "Status": "Enabled",
            "Expiration": {"Days": DATASET_TTL_DAYS},
        },
    ]


async def from_settings(settings: Settings) -> ObjectStore:
    """The store the settings name; an S3 bucket gets its lifecycle rules here."""
    if settings.storage_backend == "s3":
        store = S3Store.from_settings(settings)
        await store.ensure_bucket()
        return store
    return LocalStore(settings.storage_dir)


def photo_key(user_ref: str, photo_id: int) -> str:
    return f"{PHOTOS}{user_ref}/{photo_id}.jpg"


def dataset_key(user_ref: str, photo_id: int, suffix: str = ".jpg") -> str:
    return f"{DATASET}{user_ref}/{photo_id}{suffix}"
