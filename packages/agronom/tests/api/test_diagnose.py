"""POST /v1/ai/diagnose over a real database, a real object store folder and the real
OpenAI-compatible vision server."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from agrosim import photos


def _multipart(image: bytes, **fields: str) -> dict:
    return {"files": {"image": ("leaf.jpg", image, "image/jpeg")}, "data": fields}


async def test_a_sick_leaf_is_diagnosed_stored_and_counted(api, sign, sql, store, vision) -> None:
    response = await api.post(
        "/v1/ai/diagnose",
        auth=sign(1001),
        **_multipart(photos.leaf(spots="brown"), file_id="AgAD-file", file_unique_id="uniq-1"),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["crop"], body["disease"]) == ("tomato", "late_blight")
    assert 0.6 <= body["confidence"] <= 1
    assert body["protocol"]["disease_name"] == "фитофтороз"
    assert body["protocol"]["steps"] and body["protocol"]["products"]
    assert body["usage"] == {"used": 1, "allowed": 3}
    photo = sql(
        "SELECT p.status, p.crop, p.disease, p.confidence, p.retry_attempts, p.file_id, "
        "p.file_unique_id, p.width, p.height, p.file_size FROM photos p "
        "JOIN users u ON u.id = p.user_id WHERE u.tg_id = 1001"
    )
    assert len(photo) == 1
    status, crop, disease, confidence, retries, file_id, unique, width, height, size = photo[0]
    assert (status, crop, disease, retries) == ("ok", "tomato", "late_blight", 0)
    assert float(confidence) == body["confidence"]
    assert (file_id, unique, width, height) == ("AgAD-file", "uniq-1", 480, 360)
    assert sql.one("SELECT count(*) FROM protocols WHERE photo_id = %s", body["photo_id"]) == 1
    assert sql.one("SELECT used FROM photo_usage") == 1
    stored = await store.list("photos/")
    assert [o.size for o in stored] == [size]


async def test_the_json_form_with_image_base64_works_too(api, sign, vision) -> None:
    payload = {"image_base64": base64.b64encode(photos.leaf(spots="white")).decode()}
    response = await api.post("/v1/ai/diagnose", auth=sign(1002), json=payload)
    assert response.status_code == 200, response.text
    assert response.json()["disease"] == "powdery_mildew"


async def test_exif_and_gps_never_reach_storage(api, sign, store, vision) -> None:
    original = photos.leaf(gps=True)
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(photos.GPS_IFD), "the input has GPS"
    response = await api.post("/v1/ai/diagnose", auth=sign(1003), **_multipart(original))
    assert response.status_code == 200, response.text
    (stored,) = await store.list("photos/")
    data = await store.get(stored.key)
    image = Image.open(io.BytesIO(data))
    assert len(image.getexif()) == 0
    assert image.getexif().get_ifd(photos.GPS_IFD) == {}
    assert b"Exif" not in data and b"PhoneMaker" not in data
    assert "exif" not in image.info and "icc_profile" not in image.info


@pytest.mark.parametrize("picture", [photos.wall(), photos.sky()], ids=["wall", "sky"])
async def test_a_photo_without_a_plant_is_no_leaf_and_not_counted(
    api, sign, sql, vision, picture
) -> None:
    response = await api.post("/v1/ai/diagnose", auth=sign(1004), **_multipart(picture))
    assert response.status_code == 422
    assert response.json()["error_code"] == "NO_LEAF"
    assert "no leaf" in response.json()["message"]
    assert sql("SELECT * FROM photos") == []
    assert sql("SELECT used FROM photo_usage") == []


async def test_no_leaf_does_not_call_the_model(api, sign, vision) -> None:
    before = vision.requests
    await api.post("/v1/ai/diagnose", auth=sign(1005), **_multipart(photos.wall()))
    assert vision.requests == before


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"content": b"not an image", "headers": {"content-type": "image/jpeg"}}, "multipart"),
        ({"content": b"--x\r\nbroken", "headers": {"content-type": "multipart/form-data"}}, ""),
        ({"json": {"image_base64": "%%%not base64"}}, "base64"),
        ({"json": {"image_base64": base64.b64encode(b"GIF89a....").decode()}}, "readable"),
        ({"json": {"picture": "x"}}, "image_base64"),
        ({"files": {"photo": ("a.jpg", b"x", "image/jpeg")}}, "`image`"),
    ],
    ids=[
        "raw-bytes",
        "broken-multipart",
        "bad-base64",
        "not-an-image",
        "no-field",
        "wrong-file-field",
    ],
)
async def test_unusable_input_is_bad_request(api, sign, sql, kwargs, fragment) -> None:
    response = await api.post("/v1/ai/diagnose", auth=sign(1006), **kwargs)
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "BAD_REQUEST"
    assert fragment in response.json()["message"]
    assert sql("SELECT * FROM photos") == []


async def test_a_png_is_accepted_and_stored_as_jpeg(api, sign, store, vision) -> None:
    response = await api.post(
        "/v1/ai/diagnose",
        auth=sign(1007),
        files={"image": ("leaf.png", photos.png_leaf(), "image/png")},
    )
    assert response.status_code == 200, response.text
    (stored,) = await store.list("photos/")
    assert (await store.get(stored.key))[:3] == b"\xff\xd8\xff"


@pytest.mark.parametrize(
    "header",
    [
        {},
        {"X-Telegram-User": "1001"},
        {"X-Telegram-User": "1001:1700000000:" + "n" * 22 + ":" + "0" * 64},
    ],
    ids=["missing", "malformed", "forged"],
)
async def test_without_a_valid_signed_header_it_is_unauthorized(api, sql, header) -> None:
    response = await api.post("/v1/ai/diagnose", headers=header, **_multipart(photos.leaf()))
    assert response.status_code == 401
    assert response.json()["error_code"] == "UNAUTHORIZED"
    assert sql("SELECT * FROM users") == []


async def test_an_old_or_foreign_signature_is_unauthorized(api, sign) -> None:
    import time  # noqa: PLC0415

    stale = await api.get("/v1/limits", auth=sign(7, at=time.time() - 3600))
    assert stale.status_code == 401
    assert "expired" in stale.json()["message"]
    foreign = await api.get("/v1/limits", auth=sign(7, secret="another-bot"))
    assert foreign.status_code == 401


async def test_a_model_error_is_retried_and_recorded(api, sign, sql, vision) -> None:
    vision.faults.fail_next = 2
    response = await api.post("/v1/ai/diagnose", auth=sign(1008), **_multipart(photos.leaf()))
    assert response.status_code == 200, response.text
    assert response.json()["retry_attempts"] == 2
    assert response.json()["disease"] == "healthy"
    assert sql.one("SELECT status::text || ':' || retry_attempts FROM photos") == "ok:2"


async def test_a_model_that_never_answers_in_time_is_gpt_timeout(api, sign, sql, vision) -> None:
    vision.faults.slow_next = 3
    response = await api.post("/v1/ai/diagnose", auth=sign(1009), **_multipart(photos.leaf()))
    assert response.status_code == 504
    assert response.json()["error_code"] == "GPT_TIMEOUT"
    assert sql.one("SELECT status::text || ':' || retry_attempts FROM photos") == "failed:2"
    assert sql.one("SELECT used FROM photo_usage") == 0, "a failed photo is given back"
    assert sql("SELECT * FROM protocols") == []


async def test_the_photo_is_pending_then_retrying_while_the_model_is_asked(
    api, sign, sql, vision
) -> None:
    seen: list[tuple[str, int]] = []
    vision.on_request = lambda: seen.extend(sql("SELECT status::text, retry_attempts FROM photos"))
    vision.faults.fail_next = 1
    try:
        response = await api.post("/v1/ai/diagnose", auth=sign(1010), **_multipart(photos.leaf()))
    finally:
        vision.on_request = None
    assert response.status_code == 200
    assert seen == [("pending", 0), ("retrying", 1)]
    assert sql.one("SELECT status::text FROM photos") == "ok"
