"""Object storage addressed by URL: a local folder by default, any S3-compatible bucket by settings.

``open_store("file:///srv/media")`` (or a plain path) keeps objects as files under that folder;
``open_store("s3://bucket/prefix", endpoint_url=...)`` keeps them in a bucket (boto3; region and
credentials given to ``open_store``, or else from the usual ``AWS_*`` variables). Apps that share
one store (SM Core puts downloaded media, TrendFlow reads them) pass keys, never bytes.

Errors::

    DevstackError
    └── ObjectStoreError     a bad store URL; a store that fails ``ping``
        ├── BadKey           a key or prefix that is not a relative path of plain segments
        └── ObjectNotFound   ``get`` of a key that holds no object

The methods are synchronous (boto3 is): async callers run them with ``asyncio.to_thread``.
Writes are atomic on both backends: a temp file and ``os.replace`` locally, one PUT on S3.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlparse

from devstack.errors import DevstackError

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client


class ObjectStoreError(DevstackError):
    """A bad key or store URL, or a store that refused a request."""


class ObjectNotFound(ObjectStoreError):
    """The key holds no object."""


class BadKey(ObjectStoreError):
    """A key or prefix that is not a relative path of plain segments (the caller's mistake)."""


@dataclass(frozen=True)
class StoredObject:
    """One object as :meth:`ObjectStore.list` finds it."""

    key: str
    """Relative to the store (an S3 store's prefix is not part of it)."""
    size: int
    modified: datetime
    """When it was last written, naive UTC."""


class ObjectStore(Protocol):
    """What apps need from an object store."""

    url: str

    def put(self, key: str, data: bytes, *, content_type: str) -> None: ...

    def get(self, key: str) -> bytes:
        """The object's bytes; :class:`ObjectNotFound` when absent."""

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Delete ``key``; a missing key is not an error (deletes are retried)."""

    def path_or_none(self, key: str) -> Path | None:
        """The object's file when the store is a local folder (readers can avoid a copy)."""

    def ping(self) -> None:
        """Raise :class:`ObjectStoreError` unless the store can be read and written now."""

    def list(self, prefix: str) -> list[StoredObject]:
        """The objects whose keys start with ``prefix`` (``""``: all), sorted by key."""


def content_key(data: bytes, extension: str, prefix: str = "media") -> str:
    """The content-addressed key of ``data``: ``<prefix>/<sha256[:2]>/<sha256>.<ext>``."""
    digest = hashlib.sha256(data).hexdigest()
    return f"{prefix}/{digest[:2]}/{digest}.{extension.lstrip('.')}"


def check_key(key: str) -> str:
    """``key`` if it is a relative path of plain segments; :class:`BadKey` otherwise."""
    parts = key.split("/")
    if not key or key.startswith("/") or "\\" in key or any(p in ("", ".", "..") for p in parts):
        raise BadKey(f"bad object key {key!r}: use a relative path like media/ab/c.jpg")
    return key


def check_prefix(prefix: str) -> str:
    """``prefix`` if it is ``""`` or the start of a good key (``media/``, ``media/ab``)."""
    if prefix:
        try:
            check_key(prefix.removesuffix("/"))
        except BadKey:
            raise BadKey(
                f"bad object key prefix {prefix!r}: use a relative path like media/ab/"
            ) from None
    return prefix


class LocalStore:
    """Objects as files under one root folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = root.resolve().as_uri()

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            Path(tmp).replace(path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as error:
            raise ObjectNotFound(f"no object {key!r} in {self.url}") from error

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def path_or_none(self, key: str) -> Path | None:
        path = self._path(key)
        return path if path.is_file() else None

    def ping(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ObjectStoreError(
                f"cannot create the store's folder {self.url}: {error}"
            ) from error
        if not os.access(self.root, os.R_OK | os.W_OK | os.X_OK):
            raise ObjectStoreError(f"the store's folder {self.url} is not readable and writable")

    def list(self, prefix: str) -> list[StoredObject]:
        return sorted(self._walk(check_prefix(prefix)), key=lambda item: item.key)

    def _walk(self, prefix: str) -> Iterator[StoredObject]:
        # Only the prefix's folder is walked: a user's few photos are found without a walk of
        # every user's.
        top = self.root / prefix.rpartition("/")[0]
        if not top.is_dir():
            return
        for path in top.rglob("*"):
            if path.name.startswith(".tmp-") or not path.is_file():
                continue  # a write in progress (or one that died before its cleanup)
            key = path.relative_to(self.root).as_posix()
            if key.startswith(prefix):
                stat = path.stat()
                modified = datetime.fromtimestamp(stat.st_mtime, UTC).replace(tzinfo=None)
                yield StoredObject(key, stat.st_size, modified)


class S3Store:
    """Objects in one S3 bucket under a prefix (AWS, Yandex Object Storage, MinIO, …)."""

    def __init__(self, client: S3Client, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = f"s3://{bucket}/{self.prefix}"

    @classmethod
    def connect(
        cls,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> S3Store:
        """The store in ``bucket`` under ``prefix``, over a new boto3 client (see ``open_store``
        for the other arguments)."""
        try:
            import boto3  # noqa: PLC0415 - only deployments on S3 pay for importing boto3
            from botocore.config import Config  # noqa: PLC0415
        except ImportError as error:
            raise ObjectStoreError(
                f"object store s3://{bucket} needs boto3: install it (pip install boto3)"
            ) from error
        client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            # Fail within seconds when the store is down: callers retry (jobs) or defer.
            config=Config(
                connect_timeout=5, read_timeout=60, retries={"mode": "standard", "max_attempts": 3}
            ),
        )
        return cls(client, bucket, prefix)

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type
        )

    def get(self, key: str) -> bytes:
        from botocore.exceptions import ClientError  # noqa: PLC0415 - boto3 only where S3 is used

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as error:
            if _missing(error):
                raise ObjectNotFound(f"no object {key!r} in {self.url}") from error
            raise
        body: bytes = response["Body"].read()
        return body

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError  # noqa: PLC0415 - boto3 only where S3 is used

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as error:
            if _missing(error):
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def path_or_none(self, key: str) -> Path | None:
        return None

    def ping(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415 - boto3 only where S3 is used

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as error:
            raise ObjectStoreError(f"the bucket of {self.url} does not answer: {error}") from error

    def list(self, prefix: str) -> list[StoredObject]:
        found: list[StoredObject] = []
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + check_prefix(prefix))
        for page in pages:
            for item in page.get("Contents", []):
                modified = item["LastModified"].astimezone(UTC).replace(tzinfo=None)
                key = item["Key"].removeprefix(self.prefix)
                found.append(StoredObject(key, item["Size"], modified))
        return found


def _missing(error: Any) -> bool:
    return error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")


def open_store(
    url: str,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
) -> ObjectStore:
    """The store at ``url``: ``file:///dir`` or a path (created), or ``s3://bucket[/prefix]``.

    Args:
        url: Where the objects live.
        endpoint_url: An S3-compatible service's endpoint (None: AWS).
        region: The bucket's region (None: boto3's usual environment, ``AWS_DEFAULT_REGION``).
        access_key_id: The S3 credentials, both or neither; None takes them from boto3's
            usual environment (``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY``, profiles).
        secret_access_key: See ``access_key_id``.
    """
    parsed = urlparse(url)
    if parsed.scheme in ("", "file"):
        root = Path(unquote(parsed.path) if parsed.scheme else url).expanduser()
        root.mkdir(parents=True, exist_ok=True)
        return LocalStore(root)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ObjectStoreError(f"object store URL {url!r} names no bucket: use s3://bucket")
        return S3Store.connect(
            parsed.netloc,
            parsed.path,
            endpoint_url=endpoint_url,
            region=region,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
        )
    raise ObjectStoreError(
        f"object store URL {url!r}: use file:///path/to/dir, a plain path, or s3://bucket/prefix"
    )
