"""The closed sets of TrendFlow's targets, dataset and ladder, defined once (seed rule 9).

Imported by ``targets``, ``dataset`` and ``models``; nothing heavy here, so the CLI can load it.
"""

from __future__ import annotations

from typing import Final, Literal

Metric = Literal["views", "likes"]
METRICS: Final[tuple[Metric, ...]] = ("views", "likes")
"""What is forecast: cumulative views and likes."""
HORIZONS_DAYS: Final = (7, 14, 21)
"""Days after publication a target is read at."""
REQUIRED_HORIZONS: Final = (14, 21)
"""Seed rule 9: 14 and 21 days are required, 7 is optional (masked)."""
IDENTITY_COLUMNS: Final = ("platform", "video_id", "channel", "published_at")
"""The dataset's identity columns (everything else is a feature or a target)."""
