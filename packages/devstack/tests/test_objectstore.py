"""The object store behind one interface: a local folder and an S3 bucket (a moto server on
loopback, speaking the S3 wire protocol)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import NoCredentialsError
from moto.server import ThreadedMotoServer

from devstack.objectstore import (
    LocalStore,
    ObjectNotFound,
    ObjectStore,
    ObjectStoreError,
    S3Store,
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


def test_list_gives_keys_relative_to_the_store_sorted_with_size_and_time(
    store: ObjectStore,
) -> None:
    before = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=5)
    for key, data in (("media/b/2.jpg", b"22"), ("media/a/1.jpg", b"1"), ("other/3.txt", b"333")):
        store.put(key, data, content_type="application/octet-stream")
    listed = store.list("media/")
    assert [(o.key, o.size) for o in listed] == [("media/a/1.jpg", 1), ("media/b/2.jpg", 2)]
    after = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=5)
    assert all(o.modified.tzinfo is None and before <= o.modified <= after for o in listed)
    assert [o.key for o in store.list("")] == ["media/a/1.jpg", "media/b/2.jpg", "other/3.txt"]
    assert [o.key for o in store.list("media/a")] == ["media/a/1.jpg"]
    assert store.list("nothing/") == []


def test_list_refuses_prefixes_that_escape_the_store(store: ObjectStore) -> None:
    for prefix in ("../", "/etc", "media/../.."):
        with pytest.raises(ObjectStoreError, match="bad object key prefix"):
            store.list(prefix)


def test_a_local_list_skips_writes_in_progress(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "objects"))
    store.put("media/a/1.jpg", b"1", content_type="image/jpeg")
    (tmp_path / "objects" / "media" / "a" / ".tmp-abc123").write_bytes(b"half")
    assert [o.key for o in store.list("")] == ["media/a/1.jpg"]


def test_ping_answers_when_the_store_can_be_read_and_written(store: ObjectStore) -> None:
    store.ping()


def test_a_local_ping_creates_the_folder_and_fails_where_none_can_be(tmp_path: Path) -> None:
    LocalStore(tmp_path / "objects").ping()
    assert (tmp_path / "objects").is_dir()

    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(ObjectStoreError, match="cannot create"):
        LocalStore(tmp_path / "a-file" / "objects").ping()


def test_an_s3_ping_fails_for_a_missing_bucket(s3_url: str) -> None:
    with pytest.raises(ObjectStoreError, match="does not answer"):
        open_store("s3://no-such-bucket", endpoint_url=s3_url).ping()


def test_s3_credentials_and_region_can_be_given_instead_of_the_environment(
    s3_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name)
    # No credentials anywhere else either: no files, no instance metadata.
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # boto3's default session keeps the credentials it found first: a fresh one reads the above.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    with pytest.raises(NoCredentialsError):
        open_store("s3://media", endpoint_url=s3_url).exists("media/x.jpg")

    store = open_store(
        f"s3://media/{tmp_path.name}",
        endpoint_url=s3_url,
        region="eu-west-1",
        access_key_id="test",
        secret_access_key="test",
    )
    assert isinstance(store, S3Store) and store.client.meta.region_name == "eu-west-1"
    store.put("media/x.jpg", b"x", content_type="image/jpeg")
    assert store.get("media/x.jpg") == b"x"
