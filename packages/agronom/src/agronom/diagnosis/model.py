"""The diagnosis model: any OpenAI-compatible chat-completions endpoint with image input.

One call sends the photo as a ``data:`` URL in an ``image_url`` content part and asks for a
JSON object ``{"crop", "disease", "confidence"}`` (``response_format: json_object``). The
client raises :class:`ModelUnavailable` for what a retry may fix (timeouts, 429, 5xx, a
malformed answer) and :class:`ModelRefused` for what it will not (other 4xx: a bad key, an
unknown model).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import httpx

from agronom.diagnosis.protocols import CROPS, DISEASES

SYSTEM_PROMPT = (
    "You are an agronomist. Look at the plant photo and answer with one JSON object: "
    '{"crop": <one of ' + ", ".join(CROPS) + '>, "disease": <one of ' + ", ".join(DISEASES) + ">, "
    '"confidence": <0..1>}. Use "unknown" when unsure. No other text.'
)


class ModelError(Exception):
    """The model gave no usable diagnosis."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ModelUnavailable(ModelError):
    """Transient: a timeout, 429, 5xx or a malformed answer; another attempt may succeed."""


class ModelRefused(ModelError):
    """Terminal: the endpoint refused the request (bad key, unknown model, bad input)."""


@dataclass(frozen=True)
class Diagnosis:
    crop: str
    disease: str
    confidence: float


class VisionModel:
    """A client of one OpenAI-compatible endpoint over an injected ``httpx.AsyncClient``."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        api_key: str,
        model: str,
        timeout_s: float,
    ) -> None:
        self.http = http
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.api_key = api_key
        self.model = model
        self.timeout = httpx.Timeout(timeout_s, connect=min(5.0, timeout_s))

    def request_body(self, jpeg: bytes) -> dict[str, Any]:
        image_url = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
        return {
            "model": self.model,
            "temperature": 0,
            "response_format": {"type": "json_object"},
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Diagnose this plant."},
                        {"type": "image_url", "image_url": {"url": image_url}},
                    ],
                },
            ],
        }

    async def diagnose(self, jpeg: bytes) -> Diagnosis:
        try:
            response = await self.http.post(
                self.url,
                json=self.request_body(jpeg),
                headers={"Authorization": f"Bearer {self.api_key}"},
                timeout=self.timeout,
            )
        except httpx.TimeoutException as exc:
            raise ModelUnavailable(
                f"the model did not answer in time ({exc.__class__.__name__})"
            ) from exc
        except httpx.TransportError as exc:
            raise ModelUnavailable(f"the model is unreachable ({exc.__class__.__name__})") from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise ModelUnavailable(
                f"the model answered HTTP {response.status_code}", status=response.status_code
            )
        if response.status_code >= 400:
            raise ModelRefused(
                f"the model refused the request: HTTP {response.status_code}",
                status=response.status_code,
            )
        return parse(response)


def parse(response: httpx.Response) -> Diagnosis:
    """The diagnosis in a chat-completions answer; :class:`ModelUnavailable` if malformed."""
    try:
        content = response.json()["choices"][0]["message"]["content"]
        answer = json.loads(content)
        crop = str(answer["crop"]).strip().lower() or "unknown"
        disease = str(answer["disease"]).strip().lower().replace(" ", "_") or "unknown"
        confidence = float(answer["confidence"])
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise ModelUnavailable(f"the model's answer is not the JSON asked for: {exc!r}") from exc
    if not 0 <= confidence <= 1:
        raise ModelUnavailable(f"the model's confidence {confidence} is outside 0..1")
    return Diagnosis(crop=crop[:64], disease=disease[:64], confidence=round(confidence, 3))
