"""Exceptions of the trendflow package.

Every error raised on purpose derives from :class:`TrendflowError`; its message says what to do.

::

    TrendflowError
    ├── ConfigError                 the config file is unreadable or invalid
    ├── InputError                  the video, meta or comments input is unusable
    ├── ModelUnavailableError       a model's weights are absent, unpinned or fail their sha256
    ├── MissingDependencyError      a component's upstream artifact or input is absent (no fallback)
    │   └── MissingFrameIndicesError   the Segmenter wrote no frame_indices for a component
    ├── StoreError                  the result store or a manifest is unreadable or inconsistent
    └── ComponentFailedError        a required component failed (carries the per-component report)
"""

from __future__ import annotations


class TrendflowError(Exception):
    """Root of every error trendflow raises on purpose."""


class ConfigError(TrendflowError):
    """The pipeline config is unreadable or invalid."""


class InputError(TrendflowError):
    """An input file (video, meta, comments) is missing or unusable."""


class ModelUnavailableError(TrendflowError):
    """A model's weights cannot be used: absent, without a pinned sha256, or mismatching it."""

    def __init__(self, model: str, reason: str) -> None:
        self.model = model
        self.reason = reason
        super().__init__(
            f"model {model!r} is unavailable: {reason}. "
            f"Run `trendflow models install {model}` (or `--from DIR|URL` for a mirror), "
            "or point TRENDFLOW_MODELS_DIR at a directory that holds it."
        )


class MissingDependencyError(TrendflowError):
    """A component's dependency (upstream artifact, input file, model output) is absent."""

    def __init__(self, component: str, dependency: str, detail: str = "") -> None:
        self.component = component
        self.dependency = dependency
        message = f"component {component!r} needs {dependency!r}, which is absent"
        super().__init__(f"{message}: {detail}" if detail else message)


class MissingFrameIndicesError(MissingDependencyError):
    """The Segmenter's metadata holds no ``frame_indices`` for a component."""

    def __init__(self, component: str, frames_dir: str) -> None:
        super().__init__(
            component,
            "frame_indices",
            f"{frames_dir}/metadata.json has no sampling entry for it; "
            "add a policy under `sampling:` in the config and rerun the segmenter",
        )


class StoreError(TrendflowError):
    """The result store or a run's manifest is unreadable or inconsistent."""


class ComponentFailedError(TrendflowError):
    """A required component failed; ``failures`` maps component name to its error text."""

    def __init__(self, failures: dict[str, str]) -> None:
        self.failures = failures
        lines = "; ".join(f"{name}: {error}" for name, error in failures.items())
        super().__init__(f"required component(s) failed: {lines}")
