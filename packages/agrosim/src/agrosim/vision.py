"""A small OpenAI-compatible vision server: ``POST /v1/chat/completions`` with image input.

It speaks the chat-completions wire format (Bearer key, ``messages`` with an ``image_url``
content part holding a ``data:`` URL, ``response_format: json_object``) and answers with a
JSON diagnosis computed from the picture itself: white powdery patches on green → powdery
mildew, brown lesions → late blight, an all-green leaf → healthy, both kinds of spots → an
unsure answer (low confidence) between the two. Like a real model asked for them, it lists
``alternatives`` beside its answer. It is the model of the demo and the tests; faults are
injected by setting :class:`Faults` fields (answer 503, refuse with a 4xx as a content policy
or a bad key would, or answer late so the client times out).
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@dataclass
class Faults:
    fail_next: int = 0  # answer 503 to this many requests
    slow_next: int = 0  # answer this many requests after `slow_s`
    slow_s: float = 5.0
    refuse_next: int = 0  # answer `refuse_status` (a content-policy refusal) to this many
    refuse_status: int = 400


@dataclass
class VisionSim:
    api_key: str = "dev-key"
    model: str = "agronom-vision-sim"
    faults: Faults = field(default_factory=Faults)
    requests: int = 0
    # Called at the start of every request (tests look at the caller's state mid-flight).
    on_request: Callable[[], None] | None = None

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/chat/completions", self.complete, methods=["POST"])])

    async def complete(self, request: Request) -> JSONResponse:
        self.requests += 1
        if self.on_request is not None:
            self.on_request()
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return _error(401, "invalid_api_key", "Incorrect API key provided")
        if self.faults.fail_next > 0:
            self.faults.fail_next -= 1
            return _error(503, "server_error", "The server is overloaded")
        if self.faults.refuse_next > 0:
            self.faults.refuse_next -= 1
            return _error(
                self.faults.refuse_status,
                "invalid_request_error",
                "Your request was rejected as a result of our safety system.",
            )
        if self.faults.slow_next > 0:
            self.faults.slow_next -= 1
            await asyncio.sleep(self.faults.slow_s)
        try:
            body = await request.json()
            image = _image(body)
        except (ValueError, KeyError, TypeError) as exc:
            return _error(400, "invalid_request_error", f"bad request: {exc}")
        answer = diagnose(image)
        return JSONResponse(
            {
                "id": f"chatcmpl-sim{self.requests}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", self.model),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": json.dumps(answer)},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 850, "completion_tokens": 24, "total_tokens": 874},
            }
        )


def _error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "code": None}}, status)


def _image(body: dict[str, Any]) -> Image.Image:
    for message in body["messages"]:
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for part in content:
            if part.get("type") == "image_url":
                url: str = part["image_url"]["url"]
                header, _, data = url.partition(",")
                if not header.startswith("data:image/") or ";base64" not in header:
                    raise ValueError("image_url must be a base64 data URL")
                return Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")
    raise ValueError("no image_url content part")


def _enclosed(mask: np.ndarray) -> np.ndarray:
    """Pixels with ``mask`` somewhere left, right, above and below them: inside the leaf."""
    left = np.cumsum(mask, axis=1) > 0
    right = np.cumsum(mask[:, ::-1], axis=1)[:, ::-1] > 0
    up = np.cumsum(mask, axis=0) > 0
    down = np.cumsum(mask[::-1, :], axis=0)[::-1, :] > 0
    enclosed: np.ndarray = left & right & up & down
    return enclosed


def diagnose(image: Image.Image) -> dict[str, Any]:
    """A colour-based diagnosis: what share of the leaf is white powder or brown lesion."""
    small = image.copy()
    small.thumbnail((128, 128))
    px = np.asarray(small, dtype=np.int32)
    r, g, b = px[..., 0], px[..., 1], px[..., 2]
    green = (g > r + 10) & (g > b + 10)
    if green.mean() < 0.05:
        return {"crop": "unknown", "disease": "unknown", "confidence": 0.2}
    inside = _enclosed(green)
    white = inside & (np.minimum(np.minimum(r, g), b) > 190) & (np.ptp(px, axis=2) < 35)
    brown = inside & (r > g + 15) & (g > b) & (r < 200) & (r - b > 40)
    area = max(int(inside.sum()), 1)
    white_share, brown_share = white.sum() / area, brown.sum() / area
    if white_share > 0.04 and brown_share > 0.04:
        # Both kinds of spots: the double is as unsure as a real model would be.
        mildew = {"crop": "cucumber", "disease": "powdery_mildew"}
        blight = {"crop": "tomato", "disease": "late_blight"}
        first, second = (mildew, blight) if white_share >= brown_share else (blight, mildew)
        return {
            **first,
            "confidence": 0.42,
            "alternatives": [
                {**second, "confidence": 0.35},
                {"crop": "tomato", "disease": "early_blight", "confidence": 0.12},
            ],
        }
    if white_share > 0.04:
        return {
            "crop": "cucumber",
            "disease": "powdery_mildew",
            "confidence": _conf(white_share),
            "alternatives": [
                {"crop": "cucumber", "disease": "downy_mildew", "confidence": 0.08},
            ],
        }
    if brown_share > 0.04:
        return {
            "crop": "tomato",
            "disease": "late_blight",
            "confidence": _conf(brown_share),
            "alternatives": [
                {"crop": "tomato", "disease": "early_blight", "confidence": 0.1},
                {"crop": "tomato", "disease": "septoria_leaf_spot", "confidence": 0.05},
            ],
        }
    return {
        "crop": "tomato",
        "disease": "healthy",
        "confidence": round(float(0.95 - brown_share), 3),
        "alternatives": [],
    }


def _conf(share: float) -> float:
    return round(min(0.98, 0.6 + float(share)), 3)
