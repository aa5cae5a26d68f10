"""Planning a job: the config it runs under, what its idempotency key depends on, components
that run only where their weights are installed, the brand dictionary."""

from __future__ import annotations

from pathlib import Path

import pytest

from trendflow.errors import ConfigError
from trendflow.models.registry import ModelStore
from trendflow.service import jobs
from trendflow.service.schemas import JobConfig, MediaJobRequest, MediaKey, MediaUrl

from ..conftest import Env  # noqa: TID252 - the package's shared fixtures


def _catalog(models_dir: Path, env: Env | None = None) -> jobs.Catalog:
    base = jobs.load_config(env.config if env else None)
    return jobs.Catalog(
        base=base,
        models=ModelStore(models_dir, base.models, download=False),
        brands=jobs.load_brands(None),
    )


def _image(url: str = "", key: str = "", **extra: object) -> MediaJobRequest:
    media = MediaUrl(url=url) if url else MediaKey(key=key)
    return MediaJobRequest.model_validate(
        {"kind": "image", "platform": "instagram", "external_id": "m1", "media": media, **extra}
    )


def test_clip_runs_where_installed_and_is_named_where_not(tmp_path: Path, env: Env) -> None:
    bare = jobs.plan(_catalog(tmp_path / "no-models"), _image(key="media/ab/x.jpg"))
    assert bare.spec["not_installed"] == ["core_clip"]
    assert "core_clip" in bare.config.disabled
    assert "core_clip" not in bare.versions["components"]
    installed = jobs.plan(_catalog(env.models_dir, env), _image(key="media/ab/x.jpg"))
    assert installed.spec["not_installed"] == []
    assert "core_clip" in installed.versions["components"]
    assert installed.idempotency_key != bare.idempotency_key


def test_an_image_job_requires_what_its_summary_reads(tmp_path: Path) -> None:
    plan = jobs.plan(_catalog(tmp_path), _image(key="media/ab/x.jpg"))
    assert plan.config.required == [
        "segmenter",
        "core_object_detections",
        "core_face_landmarks",
        "ocr_text",
        "color_motion",
    ]
    skipped = jobs.plan(
        _catalog(tmp_path), _image(key="media/ab/x.jpg", config={"disabled": ["ocr_text"]})
    )
    assert "ocr_text" not in skipped.config.required
    assert skipped.idempotency_key != plan.idempotency_key


def test_a_link_signed_again_is_the_same_job(tmp_path: Path) -> None:
    catalog = _catalog(tmp_path)
    first = jobs.plan(catalog, _image(url="https://cdn.example/v/1_n.jpg?oe=65A0&oh=aa"))
    again = jobs.plan(catalog, _image(url="https://CDN.example/v/1_n.jpg?oe=75B0&oh=bb"))
    other = jobs.plan(catalog, _image(url="https://cdn.example/v/2_n.jpg?oe=65A0&oh=aa"))
    assert first.idempotency_key == again.idempotency_key != other.idempotency_key


def test_config_overrides_change_the_config_hash(tmp_path: Path) -> None:
    catalog = _catalog(tmp_path)
    base = jobs.plan(catalog, _image(key="media/ab/x.jpg"))
    stricter = jobs.plan(
        catalog,
        _image(
            key="media/ab/x.jpg",
            config=JobConfig.model_validate(
                {"components": {"core_face_landmarks": {"score_threshold": 0.9}}}
            ),
        ),
    )
    assert stricter.config.components.core_face_landmarks.score_threshold == 0.9
    assert stricter.config.config_hash() != base.config.config_hash()
    assert stricter.config.components.core_face_landmarks.max_faces == 8, "the rest is kept"


def test_a_frame_size_override_keeps_the_rest_of_the_policy_and_is_another_job(
    tmp_path: Path,
) -> None:
    catalog = _catalog(tmp_path)
    base = jobs.plan(catalog, _image(key="media/ab/x.jpg"))
    assert base.config.sampling["color_motion"].max_side == 160, "colour reads small frames"
    larger = jobs.plan(
        catalog,
        _image(
            key="media/ab/x.jpg",
            config=JobConfig.model_validate({"sampling": {"color_motion": {"max_side": 640}}}),
        ),
    )
    policy = larger.config.sampling["color_motion"]
    assert (policy.max_side, policy.fps, policy.max_frames) == (640, 5.0, 300)
    assert larger.idempotency_key != base.idempotency_key


def test_the_brand_dictionary_is_a_list_or_a_mapping(tmp_path: Path) -> None:
    listed = tmp_path / "brands.yaml"
    listed.write_text("- Acme\n- Globex\n")
    assert jobs.load_brands(listed) == {"Acme": ["acme"], "Globex": ["globex"]}
    mapped = tmp_path / "brands.json"
    mapped.write_text('{"Acme": ["acme corp", "#acme"], "Initech": null}')
    assert jobs.load_brands(mapped) == {"Acme": ["acme corp", "#acme"], "Initech": []}
    broken = tmp_path / "broken.yaml"
    broken.write_text("Acme: 3\n")
    with pytest.raises(ConfigError, match="list of names or a mapping"):
        jobs.load_brands(broken)
