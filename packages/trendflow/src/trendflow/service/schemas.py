"""The HTTP contract of the analysis service: job requests, the job JSON, summaries.

Every request model forbids unknown fields and bounds every number, so what the OpenAPI document
allows is what a job can run (schemathesis holds the API to that). A job's ``config`` overrides
only what is safe per job (sampling, thresholds, components to skip); models, execution knobs
and required components are the server's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, field_validator

from trendflow.service.errors import ErrorCode

Platform = Literal["instagram", "youtube", "tiktok"]
Status = Literal["pending", "processing", "done", "failed"]
ComponentState = Literal["pending", "running", "computed", "reused", "empty", "failed"]
FrameUser = Literal[
    "core_clip",
    "core_depth_midas",
    "core_object_detections",
    "core_face_landmarks",
    "color_motion",
    "ocr_text",
]
Skippable = Literal[
    "core_clip",
    "core_depth_midas",
    "core_object_detections",
    "core_face_landmarks",
    "shot_stats",
    "color_motion",
    "ocr_text",
    "faces_over_time",
    "objects_over_time",
    "audio_tier0",
    "asr_extractor",
    "text_metadata",
    "text_comments",
]

# No space or control characters (PostgreSQL text cannot hold NUL either), no user info, no IPv6
# literal. Explicit ASCII classes, not \s: Python's and ECMAScript's differ (U+0085).
HTTP_URL = r"^https?://[^ /?#@\[\]\x00-\x1f\x7f]+([/?#][^ \x00-\x1f\x7f]*)?$"
NO_NUL = r"^[^\x00]*$"
# Relative paths of plain segments (no "." or ".." segment, no leading slash): a store key.
OBJECT_KEY = r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}(/[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}){0,15}$"
# Names a run folder, result_store/<platform>/<external_id>/<job id>: no "/", no leading dot.
EXTERNAL_ID = r"^[A-Za-z0-9_+:@=,~-][A-Za-z0-9._+:@=,~-]{0,127}$"
IDEMPOTENCY_KEY = r"^[!-~]{1,255}$"
MAX_TEXTS = 500


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- job config overrides
class SegmenterOverride(_Request):
    frame_max_side: int | None = Field(
        None, ge=64, le=4096, description="Longest side of the frames the components see."
    )


class SamplingOverride(_Request):
    fps: float | None = Field(None, gt=0, le=60, description="Frames per second sampled.")
    max_frames: int | None = Field(None, ge=1, le=1024, description="At most this many frames.")
    max_side: int | None = Field(
        None, ge=16, le=4096, description="Longest side of this component's frames, pixels."
    )


class ObjectsOverride(_Request):
    score_threshold: float | None = Field(None, gt=0, lt=1, description="YOLOX score cut.")
    nms_iou: float | None = Field(None, gt=0, lt=1, description="NMS IoU.")
    max_detections: int | None = Field(None, ge=1, le=300, description="Per frame at most.")


class FacesOverride(_Request):
    score_threshold: float | None = Field(None, gt=0, lt=1, description="YuNet score cut.")
    nms_iou: float | None = Field(None, gt=0, lt=1, description="NMS IoU.")
    max_faces: int | None = Field(None, ge=1, le=64, description="Per frame at most.")


class OcrOverride(_Request):
    text_score: float | None = Field(None, gt=0, lt=1, description="Drop text read below it.")
    box_threshold: float | None = Field(None, gt=0, lt=1, description="Detector box score.")
    det_max_side: int | None = Field(None, ge=32, le=4096, description="Detector input cap.")
    max_boxes: int | None = Field(None, ge=1, le=256, description="Text boxes per frame.")


class AsrOverride(_Request):
    language: str | None = Field(
        None, pattern=r"^[a-z]{2,3}$", description="Force this language (Whisper's code)."
    )
    beam_size: int | None = Field(None, ge=1, le=10, description="Beam search width.")
    vad_filter: StrictBool | None = Field(None, description="Transcribe only detected speech.")


class ComponentOverrides(_Request):
    core_object_detections: ObjectsOverride | None = None
    core_face_landmarks: FacesOverride | None = None
    ocr_text: OcrOverride | None = None
    asr_extractor: AsrOverride | None = None


class JobConfig(_Request):
    """Overrides of the server's pipeline config for one job (part of its config hash)."""

    segmenter: SegmenterOverride | None = None
    sampling: dict[FrameUser, SamplingOverride] | None = Field(
        None,
        description="Sampling policy per frame-reading component (of an image's, only max_side).",
    )
    components: ComponentOverrides | None = None
    disabled: list[Skippable] | None = Field(
        None, max_length=16, description="Components not to run (their dependents are skipped)."
    )


# ---------------------------------------------------------------- job requests
class MediaUrl(_Request):
    url: str = Field(
        pattern=HTTP_URL,
        max_length=4096,
        description="An http(s) link to the media; it is downloaded when the job runs.",
    )


class MediaKey(_Request):
    key: str = Field(
        pattern=OBJECT_KEY,
        max_length=1024,
        description="A key in the object store (TRENDFLOW_OBJECT_STORE_URL), e.g. "
        "media/ab/<sha256>.jpg.",
    )


class TextItem(_Request):
    id: str = Field(
        min_length=1,
        max_length=200,
        pattern=NO_NUL,
        description="The caller's id of the text, e.g. caption:123.",
    )
    text: str = Field(
        max_length=20_000, pattern=NO_NUL, description="The text (caption, comment, title)."
    )


class _JobRequest(_Request):
    platform: Platform
    external_id: str = Field(
        pattern=EXTERNAL_ID, description="The media's (or post's) id on the platform."
    )
    config: JobConfig | None = None
    webhook_url: str | None = Field(
        None,
        pattern=HTTP_URL,
        max_length=4096,
        description="POSTed the job JSON when the job ends, signed: X-TrendFlow-Signature: "
        "sha256=<HMAC-SHA256 of the body, hex>.",
    )


class MediaJobRequest(_JobRequest):
    """Analyse one image or video."""

    kind: Literal["image", "video"]
    media: MediaUrl | MediaKey


class TextJobRequest(_JobRequest):
    """Analyse texts: language, hashtags, mentions, brands, an embedding per item."""

    kind: Literal["text"]
    texts: list[TextItem] = Field(min_length=1, max_length=MAX_TEXTS)


MAX_OBSERVATIONS = 2000


def _not_bool(value: Any) -> Any:
    # JSON's true and false are not counts (pydantic would take them for 1 and 0); 3.0 is one.
    if isinstance(value, bool):
        raise ValueError("a count is an integer, not a boolean")
    return value


def _moment(value: Any) -> Any:
    # An ISO 8601 string with a zone, nothing else (pydantic would read 0 as 1970).
    if not isinstance(value, str):
        raise ValueError("a time is an ISO 8601 string with a zone, e.g. 2026-11-01T09:00:00Z")
    return value


class ObservationIn(_Request):
    observed_at: AwareDatetime = Field(description="When the counts were read (with a zone).")
    views: int | None = Field(None, ge=0, le=10**15, description="Views then; null: not read.")
    likes: int | None = Field(None, ge=0, le=10**15, description="Likes then; null: not read.")

    _moment = field_validator("observed_at", mode="before")(_moment)
    _counts = field_validator("views", "likes", mode="before")(_not_bool)


class PredictionJobRequest(_Request):
    """Forecast a synced video's views and likes at 7, 14 and 21 days.

    The server's model (``TRENDFLOW_PREDICTION_MODEL``, made by ``trendflow train``) sees what
    was known at its observation point: the counts observed up to then, the metadata below,
    and the content features of the newest video job run for the same platform and external
    id (without one the forecast comes from the counts and metadata alone, and says so)."""

    kind: Literal["prediction"]
    platform: Platform
    external_id: str = Field(pattern=EXTERNAL_ID, description="The video's id on the platform.")
    published_at: AwareDatetime = Field(description="When the video was published.")
    observations: list[ObservationIn] = Field(
        min_length=1,
        max_length=MAX_OBSERVATIONS,
        description="The video's counts as observed (SM Core's post metric snapshots); those "
        "after the model's observation point are not used.",
    )
    channel: str | None = Field(None, max_length=200, pattern=NO_NUL, description="Account.")
    caption: str | None = Field(None, max_length=20_000, pattern=NO_NUL)
    channel_followers: int | None = Field(
        None,
        ge=0,
        le=10**12,
        description="The account's followers when the video appeared.",
    )
    webhook_url: str | None = Field(
        None,
        pattern=HTTP_URL,
        max_length=4096,
        description="POSTed the job JSON when the job ends (signed as for the other kinds).",
    )

    _moment = field_validator("published_at", mode="before")(_moment)
    _counts = field_validator("channel_followers", mode="before")(_not_bool)


JobRequest = Annotated[
    MediaJobRequest | TextJobRequest | PredictionJobRequest, Field(discriminator="kind")
]


# ---------------------------------------------------------------- the job JSON
class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobError(_Response):
    code: ErrorCode
    message: str
    retryable: bool = Field(description="Whether posting the job again later may succeed.")


class ObjectSeen(_Response):
    label: str = Field(description="COCO class name.")
    score: float = Field(description="Best detection score.")
    frames: int = Field(description="Sampled frames it was seen in.")


class Colour(_Response):
    mean_rgb: list[float] = Field(description="Mean R, G, B (0-255) over the sampled frames.")
    brightness: float | None = Field(description="Mean luma, 0-1.")


class ImageSummary(_Response):
    """What an image job found (also the first part of a video's)."""

    faces: int | None = Field(description="Faces in the image (video: most in one frame).")
    objects: list[ObjectSeen]
    text_on_screen: str | None = Field(
        description="Words read (OCR), joined by spaces; '' if none; null once purged."
    )
    colour: Colour | None
    width: int
    height: int
    not_installed: list[str] = Field(
        default_factory=list, description="Optional components skipped: weights not installed."
    )


class VideoSummary(ImageSummary):
    duration_s: float
    has_audio: bool
    speech: str | None = Field(description="Transcript (Whisper), null without speech.")
    speech_language: str | None


class TextItemSummary(_Response):
    id: str
    language: str | None = Field(description="ISO 639-1 code; null for text without letters.")
    hashtags: list[str]
    mentions: list[str] = Field(description="Handles mentioned, without @, lower-cased.")
    brands: list[str] = Field(description="Brand names from the brand dictionary.")
    embedding_dim: int = Field(description="Length of the item's embedding in the NPZ; 0: none.")


class TextSummary(_Response):
    items: list[TextItemSummary]


class Opinion(_Response):
    model: str = Field(description="The ladder's model (lightgbm, szabo_huberman, ...).")
    count: float | None = Field(description="Forecast cumulative count; null: none.")
    log1p: float | None = Field(description="log1p of the forecast count.")


class HorizonForecast(Opinion):
    optional: bool = Field(description="A horizon the seed makes optional (7 days).")
    reason: str | None = Field(None, description="Why there is no forecast.")
    second_opinion: Opinion | None = Field(
        None, description="Szabo-Huberman's forecast (log-linear on the early count)."
    )


class PredictionSummary(_Response):
    """A forecast: cumulative views and likes at each horizon after publication."""

    model_version: str
    observation_hours: float = Field(description="The model's observation point, hours.")
    provenance: str = Field(description="What the model was trained on: simulated or real.")
    features_job: str | None = Field(
        description="The video job whose run gave the content features; null: none was found."
    )
    missing_features: list[str] = Field(description="Model inputs the video did not have.")
    warnings: list[str]
    forecast: dict[str, dict[str, HorizonForecast]] = Field(
        description="Per metric (views, likes) per horizon (h7, h14, h21)."
    )


class ArtifactLink(_Response):
    path: str = Field(description="Relative to the run, e.g. core_face_landmarks/faces.npz.")
    url: str
    sha256: str


class JobResult(_Response):
    summary: VideoSummary | ImageSummary | TextSummary | PredictionSummary
    manifest_url: str | None = Field(description="The run's manifest; null for a prediction.")
    artifacts: list[ArtifactLink]


class Job(_Response):
    """An analysis job. NPZ artifacts are the source of truth; ``summary`` presents them."""

    id: str
    kind: Literal["image", "video", "text", "prediction"]
    status: Status
    platform: Platform
    external_id: str
    idempotency_key: str
    config_hash: str
    versions: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    progress: dict[str, ComponentState]
    error: JobError | None
    result: JobResult | None


class Health(_Response):
    status: Literal["ok"]


class Problem(_Response):
    detail: str
