"""The object store behind one interface: a local folder and an S3 bucket (a moto server on
loopback, speaking the S3 wire protocol)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from devstack.objectstore import (
    ObjectNotFound,
    ObjectStore,
    ObjectStoreError,
    content_key,
    open_store,
)


@pytest.fixture(scope="module")
def s3_url(monkeypatch_module: pytest.MonkeyPatch) -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        monkeypatch_module.setenv(name, value)
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="media")
    yield endpoint
    server.stop()


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return open_store((tmp_path / "objects").as_uri())
    endpoint = request.getfixturevalue("s3_url")
    return open_store(f"s3://media/{tmp_path.name}", endpoint_url=endpoint)


def test_put_get_exists_delete_round_trip(store: ObjectStore) -> None:
    data = b"\xff\xd8\xff jpeg bytes"
    key = content_key(data, "jpg")
    assert key.startswith("media/") and key.endswith(".jpg") and key.split("/")[1] == key[-68:-66]
    assert not store.exists(key)
    store.put(key, data, content_type="image/jpeg")
    assert store.exists(key)
    assert store.get(key) == data
    store.delete(key)
    store.delete(key)  # a second delete is not an error
    assert not store.exists(key)
    with pytest.raises(ObjectNotFound):
        store.get(key)


def test_a_local_store_gives_the_file_and_s3_none(store: ObjectStore) -> None:
    store.put("media/aa/x.jpg", b"x", content_type="image/jpeg")
    path = store.path_or_none("media/aa/x.jpg")
    if store.url.startswith("file:"):
        assert path is not None and path.read_bytes() == b"x"
    else:
        assert path is None


@pytest.mark.parametrize("key", ["", "/etc/passwd", "media/../secret", "a//b", "a\\b"])
def test_keys_that_escape_the_store_are_refused(store: ObjectStore, key: str) -> None:
    with pytest.raises(ObjectStoreError, match="bad object key"):
        store.put(key, b"x", content_type="text/plain")


def test_unknown_schemes_are_refused_with_the_forms_that_work(tmp_path: Path) -> None:
    with pytest.raises(ObjectStoreError, match="s3://bucket"):
        open_store("ftp://host/dir")
    with pytest.raises(ObjectStoreError, match="names no bucket"):
        open_store("s3://")
    assert open_store(str(tmp_path / "plain")).exists("media/no/such.jpg") is False
