"""``POST /v1/ai/diagnose``: a plant photo in, a diagnosis and a treatment protocol out."""

from __future__ import annotations

import base64
import binascii

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from agronom.api import schemas
from agronom.api.deps import Rt, TgUser, errors, parse
from agronom.diagnosis import protocols
from agronom.diagnosis.service import Upload
from agronom.errors import AgronomError, BadRequest
from agronom.metrics import DIAGNOSES

router = APIRouter(tags=["diagnosis"])

_MULTIPART_SCHEMA = {
    "type": "object",
    "required": ["image"],
    "properties": {
        "image": {"type": "string", "format": "binary", "description": "JPEG, PNG or WebP"},
        "file_id": {"type": "string", "maxLength": 256},
        "file_unique_id": {"type": "string", "maxLength": 256},
    },
}


@router.post(
    "/v1/ai/diagnose",
    response_model=schemas.DiagnoseResponse,
    responses={
        **errors(400, 401, 422, 429, 504),
        502: {
            "model": schemas.ErrorResponse,
            "description": "BAD_REQUEST: the diagnosis model refused the call (e.g. its content "
            "policy); the photo was not counted",
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": _MULTIPART_SCHEMA},
                "application/json": {"schema": schemas.DiagnoseJSON.model_json_schema()},
            },
        }
    },
)
async def diagnose(request: Request, tg_id: TgUser, rt: Rt) -> schemas.DiagnoseResponse:
    """Diagnose one plant photo: ``{crop, disease, confidence}`` and a treatment protocol
    (none when the model is not confident: the top candidates instead).

    Creates a ``photos`` row and counts it in ``photo_usage`` (contract 6.1). Refused with 429
    ``LIMIT_EXCEEDED`` and ``Retry-After`` beyond ``PHOTOS_PER_MINUTE`` or the day's refused
    photos, before the photo is read; the same photo (``file_unique_id``) again is answered
    from the stored diagnosis.
    """
    max_bytes = rt.settings.max_upload_bytes

    async def read() -> Upload:
        return await _read_photo(request, max_bytes)

    try:
        result = await rt.diagnosis.diagnose(tg_id=tg_id, read=read)
    except AgronomError as exc:
        DIAGNOSES.labels(exc.error_code.value).inc()
        raise
    DIAGNOSES.labels("ok" if result.confident else "unsure").inc()
    p = result.protocol
    return schemas.DiagnoseResponse(
        photo_id=result.photo_id,
        crop=result.diagnosis.crop,
        disease=result.diagnosis.disease,
        confidence=result.diagnosis.confidence,
        confident=result.confident,
        candidates=[
            schemas.CandidateOut(
                crop=c.crop,
                disease=c.disease,
                disease_name=protocols.name(c.disease),
                confidence=c.confidence,
            )
            for c in result.diagnosis.candidates
        ],
        protocol=schemas.ProtocolOut(
            id=result.protocol_id,
            disease_name=protocols.name(p.disease),
            summary=p.summary,
            steps=p.steps,
            products=p.products,
            safety_notes=p.safety_notes,
        )
        if p is not None and result.protocol_id is not None
        else None,
        retry_attempts=result.retry_attempts,
        usage=schemas.Usage(used=result.used, allowed=result.allowed),
        repeated=result.repeated,
    )


async def _read_photo(request: Request, max_bytes: int) -> Upload:
    """The photo and its Telegram ids from a multipart or a JSON body."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        try:
            form = await request.form(max_files=1, max_fields=10)
        except (StarletteHTTPException, ValueError, KeyError) as exc:
            raise BadRequest(f"the multipart body cannot be read: {exc}") from None
        image = form.get("image")
        if not isinstance(image, UploadFile):
            raise BadRequest("the multipart body needs a file field `image`")
        data = await image.read(max_bytes + 1)
        ids = [form.get(k) for k in ("file_id", "file_unique_id")]
        file_id, unique = (i if isinstance(i, str) and i else None for i in ids)
        return Upload(data, _telegram_id(file_id), _telegram_id(unique))
    if kind == "application/json":
        body = parse(schemas.DiagnoseJSON, await request.body())
        try:
            data = base64.b64decode(body.image_base64, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("image_base64 is not valid base64") from None
        return Upload(data, _telegram_id(body.file_id), _telegram_id(body.file_unique_id))
    raise BadRequest("send the photo as multipart/form-data (image) or JSON (image_base64)")


def _telegram_id(value: str | None) -> str | None:
    """A Telegram file id as given, or :class:`BadRequest` for one no Telegram id looks like
    (too long, or with control characters: PostgreSQL text holds no NUL)."""
    if value is None:
        return None
    if len(value) > 256 or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise BadRequest("file_id and file_unique_id must be printable, at most 256 characters")
    return value
