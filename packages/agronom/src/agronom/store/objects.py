"""Agronom's object store: the key layout, the TTLs as S3 lifecycle rules, and the async face of
devstack's store (:mod:`devstack.objectstore`: a local folder by default, the S3 API in
production; atomic writes on both).

Key layout (the contract's section 1; ``<ref>`` is the user's pseudonymous reference, so a
user's objects are found by prefix for DSR without naming the user)::

    photos/<ref>/<photo_id>.jpg              TTL 90 days (S3 lifecycle rule; the expiry job too)
    ml-dataset/<ref>/<photo_id>.jpg|.json    opted-in users' ok photos, TTL 2 years
    exports/daily/<YYYY-MM-DD>/...           daily metrics for Metabase

A bad key is a :class:`~agronom.errors.BadRequest`; ``get`` of a missing object raises
:class:`ObjectNotFound` (devstack's, named here for agronom's callers).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from agronom.errors import BadRequest
from agronom.settings import Settings
from devstack import objectstore

PHOTOS = "photos/"
DATASET = "ml-dataset/"
EXPORTS = "exports/"
PHOTO_TTL_DAYS = 90
DATASET_TTL_DAYS = 730

P = ParamSpec("P")
T = TypeVar("T")
ObjectNotFound = objectstore.ObjectNotFound
StoredObject = objectstore.StoredObject


class ObjectStore:
    """What the services call: a devstack store, each call in a worker thread (boto3 and file
    I/O block) so the event loop never waits on the store."""

    def __init__(self, objects: objectstore.ObjectStore) -> None:
        self.objects = objects

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        await _in_thread(self.objects.put, key, data, content_type=content_type)

    async def get(self, key: str) -> bytes:
        """The object's bytes; :class:`ObjectNotFound` when absent."""
        return await _in_thread(self.objects.get, key)

    async def delete(self, key: str) -> None:
        """Delete ``key``; a missing key is not an error (deletes are retried)."""
        await _in_thread(self.objects.delete, key)

    async def exists(self, key: str) -> bool:
        return await _in_thread(self.objects.exists, key)

    async def ping(self) -> None:
        """Raise unless the store can be read and written now (for ``/health``)."""
        await _in_thread(self.objects.ping)

    async def list(self, prefix: str) -> list[StoredObject]:
        """The objects whose keys start with ``prefix`` (``""``: all), sorted by key."""
        return await _in_thread(self.objects.list, prefix)


async def _in_thread(call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``call`` in a worker thread; a bad key is the caller's :class:`BadRequest`."""
    try:
        return await asyncio.to_thread(call, *args, **kwargs)
    except objectstore.BadKey as error:
        raise BadRequest(str(error)) from error


def local(root: Path) -> ObjectStore:
    """The store in the folder ``root`` (created on the first write; ``ping`` creates it too)."""
    return ObjectStore(objectstore.LocalStore(root))


async def from_settings(settings: Settings) -> ObjectStore:
    """The store the settings name; an S3 bucket is created if missing and gets its lifecycle
    rules here."""
    if settings.storage_backend == "local":
        return local(settings.storage_dir)
    objects = objectstore.S3Store.connect(
        settings.s3_bucket,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        access_key_id=settings.s3_access_key_id.get_secret_value() or None,
        secret_access_key=settings.s3_secret_access_key.get_secret_value() or None,
    )
    await ensure_bucket(objects)
    return ObjectStore(objects)


async def ensure_bucket(objects: objectstore.S3Store) -> None:
    """Create the bucket if missing and set the contract's lifecycle rules on it."""
    from botocore.exceptions import ClientError  # noqa: PLC0415 - boto3 only where S3 is used

    try:
        await asyncio.to_thread(objects.client.head_bucket, Bucket=objects.bucket)
    except ClientError:
        await asyncio.to_thread(objects.client.create_bucket, Bucket=objects.bucket)
    await asyncio.to_thread(
        objects.client.put_bucket_lifecycle_configuration,
        Bucket=objects.bucket,
        LifecycleConfiguration={"Rules": lifecycle_rules(objects.prefix)},  # type: ignore[typeddict-item]  # the rules are plain dicts, not boto3-stubs' TypedDict
    )


def lifecycle_rules(prefix: str = "") -> list[dict[str, Any]]:
    """The contract's TTLs as S3 lifecycle rules: photos 90 days, ML dataset 2 years
    (``prefix``: the store's own within its bucket)."""
    return [
        {
            "ID": "photos-ttl-90d",
            "Filter": {"Prefix": prefix + PHOTOS},
            "Status": "Enabled",
            "Expiration": {"Days": PHOTO_TTL_DAYS},
        },
        {
            "ID": "ml-dataset-ttl-2y",
            "Filter": {"Prefix": prefix + DATASET},
            "Status": "Enabled",
            "Expiration": {"Days": DATASET_TTL_DAYS},
        },
    ]


def photo_key(user_ref: str, photo_id: int) -> str:
    return f"{PHOTOS}{user_ref}/{photo_id}.jpg"


def dataset_key(user_ref: str, photo_id: int, suffix: str = ".jpg") -> str:
    return f"{DATASET}{user_ref}/{photo_id}{suffix}"
