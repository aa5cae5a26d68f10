"""The diagnosis model: any OpenAI-compatible chat-completions endpoint with image input.

One call sends the photo as a ``data:`` URL in an ``image_url`` content part and asks for a
JSON object ``{"crop", "disease", "confidence", "alternatives": [{"crop", "disease",
"confidence"}, ...]}`` (``response_format: json_object``); the alternatives are optional (a
model that gives none still works). The client raises :class:`ModelUnavailable` for what a
retry may fix (timeouts, 429, 5xx, a malformed answer) and :class:`ModelRefused` for what it
will not (other 4xx: a bad key, an unknown model, a content policy), with the endpoint's own
message.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from agronom.diagnosis.protocols import CROPS, DISEASES
from agronom.metrics import MODEL_LATENCY

SYSTEM_PROMPT = (
    "You are an agronomist. Look at the plant photo and answer with one JSON object: "
    '{"crop": <one of ' + ", ".join(CROPS) + '>, "disease": <one of ' + ", ".join(DISEASES) + ">, "
    '"confidence": <0..1>, "alternatives": [up to 2 other likely {"crop", "disease", '
    '"confidence"}, most likely first]}. Use "unknown" when unsure. No other text.'
)
TOP = 3  # candidates kept: the answer and up to two alternatives


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
class Candidate:
    crop: str
    disease: str
    confidence: float


@dataclass(frozen=True)
class Diagnosis:
    crop: str
    disease: str
    confidence: float
    # The answer first, then the model's alternatives by confidence (at most TOP in all).
    candidates: tuple[Candidate, ...] = ()


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
        """One call to the model, timed in ``agronom_model_call_duration_seconds``."""
        started = time.perf_counter()
        outcome = "error"
        try:
            found = await self._call(jpeg)
        except ModelRefused:
            outcome = "refused"
            raise
        except ModelUnavailable as exc:
            outcome = "timeout" if "in time" in str(exc) else "error"
            raise
        else:
            outcome = "ok"
            return found
        finally:
            MODEL_LATENCY.labels(outcome).observe(time.perf_counter() - started)

    async def _call(self, jpeg: bytes) -> Diagnosis:
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
            said = _error_message(response)
            raise ModelRefused(
                f"the model refused the request: HTTP {response.status_code}"
                + (f" ({said})" if said else ""),
                status=response.status_code,
            )
        return parse(response)


def _error_message(response: httpx.Response) -> str:
    """The ``error.message`` of an OpenAI-style error body, shortened; empty when none."""
    try:
        error = response.json().get("error")
        message = error.get("message") if isinstance(error, dict) else error
    except (ValueError, AttributeError):
        return ""
    return str(message)[:200] if message else ""


def _candidate(item: Any) -> Candidate:
    crop = str(item["crop"]).strip().lower() or "unknown"
    disease = str(item["disease"]).strip().lower().replace(" ", "_") or "unknown"
    confidence = float(item["confidence"])
    if not 0 <= confidence <= 1:
        raise ValueError(f"confidence {confidence} is outside 0..1")
    return Candidate(crop[:64], disease[:64], round(confidence, 3))


def parse(response: httpx.Response) -> Diagnosis:
    """The diagnosis in a chat-completions answer; :class:`ModelUnavailable` if malformed.

    Malformed alternatives are dropped, not fatal: the answer itself is what was asked for.
    """
    try:
        content = response.json()["choices"][0]["message"]["content"]
        answer = json.loads(content)
        top = _candidate(answer)
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise ModelUnavailable(f"the model's answer is not the JSON asked for: {exc!r}") from exc
    others: list[Candidate] = []
    alternatives = answer.get("alternatives") if isinstance(answer, dict) else None
    for item in alternatives if isinstance(alternatives, list) else []:
        try:
            candidate = _candidate(item)
        except (ValueError, KeyError, TypeError):
            continue
        if (candidate.crop, candidate.disease) != (top.crop, top.disease):
            others.append(candidate)
    others.sort(key=lambda c: c.confidence, reverse=True)
    return Diagnosis(
        crop=top.crop,
        disease=top.disease,
        confidence=top.confidence,
        candidates=(top, *others[: TOP - 1]),
    )
