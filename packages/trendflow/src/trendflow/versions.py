"""Versions recorded in every artifact and manifest (seed rules 8 and 10)."""

from __future__ import annotations

from importlib.metadata import version

DATAPROCESSOR_VERSION = version("trendflow")
# Version of the sampling algorithm (uniform in time, capped, frame 0 first); bump on change.
SAMPLING_POLICY_VERSION = "uniform_fps_v1"
# YouTube first (the seed's v1); the analysis service also takes Instagram and TikTok media.
PLATFORMS = ("youtube", "instagram", "tiktok")
