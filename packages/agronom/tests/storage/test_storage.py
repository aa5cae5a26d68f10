"""Both object stores behind one interface: the local folder and the S3 API (a moto server on
loopback speaking S3), with the contract's lifecycle rules set on the bucket."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

from agronom.errors import BadRequest
from agronom.settings import Settings
from agronom.store import objects as storage
from agrosim.server import free_port
from devstack import objectstore

from ..conftest import on_s3  # noqa: TID252


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


async def _s3(s3_endpoint: str, name: str) -> storage.ObjectStore:
    """A store built from settings the way the app builds it (bucket created, rules set)."""
    bucket = "agronom-" + "".join(c for c in name.lower() if c.isalnum())[-30:]
    settings = on_s3(Settings(app_env="test"), s3_endpoint, bucket)  # type: ignore[arg-type]
    return await storage.from_settings(settings)


@pytest.fixture
async def s3(s3_endpoint: str, request) -> objectstore.S3Store:
    store = await _s3(s3_endpoint, request.node.name)
    assert isinstance(store.objects, objectstore.S3Store)
    return store.objects


@pytest.fixture(params=["local", "s3"])
async def any_store(request, tmp_path, s3_endpoint):
    if request.param == "local":
        return storage.local(tmp_path / "objects")
    return await _s3(s3_endpoint, request.node.name)


async def test_put_get_list_delete_round_trip(any_store) -> None:
    await any_store.put("photos/ref1/1.jpg", b"one", content_type="image/jpeg")
    await any_store.put("photos/ref1/2.jpg", b"two", content_type="image/jpeg")
    await any_store.put("ml-dataset/ref1/1.jpg", b"one", content_type="image/jpeg")
    assert await any_store.get("photos/ref1/2.jpg") == b"two"
    assert [o.key for o in await any_store.list("photos/")] == [
        "photos/ref1/1.jpg",
        "photos/ref1/2.jpg",
    ]
    assert [o.size for o in await any_store.list("ml-dataset/")] == [3]
    assert await any_store.exists("photos/ref1/1.jpg")
    await any_store.delete("photos/ref1/1.jpg")
    await any_store.delete("photos/ref1/1.jpg")  # deleting again is fine
    assert not await any_store.exists("photos/ref1/1.jpg")
    assert [o.key for o in await any_store.list("")] == [
        "ml-dataset/ref1/1.jpg",
        "photos/ref1/2.jpg",
    ]


async def test_keys_cannot_escape_the_store(any_store) -> None:
    for key in ("../etc/passwd", "/abs", "photos/../../x", "a//b"):
        with pytest.raises(BadRequest):
            await any_store.put(key, b"x", content_type="text/plain")
    with pytest.raises(BadRequest):
        await any_store.list("photos/../")


async def test_a_missing_object_is_object_not_found(any_store) -> None:
    with pytest.raises(storage.ObjectNotFound):
        await any_store.get("photos/ref1/none.jpg")


async def test_an_s3_bucket_gets_the_contracts_lifecycle_rules(s3) -> None:
    client = boto3.client(
        "s3",
        endpoint_url=s3.client.meta.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    rules = client.get_bucket_lifecycle_configuration(Bucket=s3.bucket)["Rules"]
    by_prefix = {r["Filter"]["Prefix"]: (r["Status"], r["Expiration"]["Days"]) for r in rules}
    assert by_prefix == {"photos/": ("Enabled", 90), "ml-dataset/": ("Enabled", 730)}
