"""Object storage addressed by URL: a local folder by default, any S3-compatible bucket by settings.

``open_store("file:///srv/media")`` (or a plain path) keeps objects as files under that folder;
``open_store("s3://bucket/prefix", endpoint_url=...)`` keeps them in a bucket (boto3, credentials
from the usual ``AWS_*`` variables). Apps that share one store (SM Core puts downloaded media,
TrendFlow reads them) pass keys, never bytes.

The methods are synchronous (boto3 is): async callers run them with ``asyncio.to_thread``.
Writes are atomic on both backends: a temp file and ``os.replace`` locally, one PUT on S3.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
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


def content_key(data: bytes, extension: str, prefix: str = "media") -> str:
    """The content-addressed key of ``data``: ``<prefix>/<sha256[:2]>/<sha256>.<ext>``."""
    digest = hashlib.sha256(data).hexdigest()
    return f"{prefix}/{digest[:2]}/{digest}.{extension.lstrip('.')}"


def check_key(key: str) -> str:
    """``key`` if it is a relative path of plain segments; :class:`ObjectStoreError` otherwise."""
    parts = key.split("/")
    if not key or key.startswith("/") or "\\" in key or any(p in ("", ".", "..") for p in parts):
        raise ObjectStoreError(f"bad object key {key!r}: use a relative path like media/ab/c.jpg")
    return key


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


class S3Store:
    """Objects in one S3 bucket under a prefix (AWS, Yandex Object Storage, MinIO, …)."""

    def __init__(self, client: S3Client, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = f"s3://{bucket}/{self.prefix}"

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


def _missing(error: Any) -> bool:
    return error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")


def open_store(url: str, *, endpoint_url: str | None = None) -> ObjectStore:
    """The store at ``url``: ``file:///dir`` or a path (created), or ``s3://bucket[/prefix]``."""
    parsed = urlparse(url)
    if parsed.scheme in ("", "file"):
        root = Path(unquote(parsed.path) if parsed.scheme else url).expanduser()
        root.mkdir(parents=True, exist_ok=True)
        return LocalStore(root)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ObjectStoreError(f"object store URL {url!r} names no bucket: use s3://bucket")
        try:
            import boto3  # noqa: PLC0415 - only deployments on S3 pay for importing boto3
            from botocore.config import Config  # noqa: PLC0415
        except ImportError as error:
            raise ObjectStoreError(
                f"object store {url!r} needs boto3: install it (pip install boto3)"
            ) from error
        client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            config=Config(
                connect_timeout=5, read_timeout=60, retries={"mode": "standard", "max_attempts": 3}
            ),
        )
        return S3Store(client, parsed.netloc, parsed.path)
    raise ObjectStoreError(
        f"object store URL {url!r}: use file:///path/to/dir, a plain path, or s3://bucket/prefix"
    )
