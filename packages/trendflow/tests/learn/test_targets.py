"""Targets from metric snapshots: tolerance, log-log interpolation, gaps, horizons not reached,
falling counts, the observation point, and the snapshot readers (CSV, Parquet, HTTP)."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no py.typed
import pyarrow.parquet as pq  # type: ignore[import-untyped]  # pyarrow ships no py.typed
import pytest
from typer.testing import CliRunner

from trendflow.learn import cli_data
from trendflow.learn.cli_data import targets_app
from trendflow.learn.features import early_features, feature_row
from trendflow.learn.snapshots import (
    Observation,
    SnapshotError,
    SourceInfo,
    VideoHistory,
    load_histories,
)
from trendflow.learn.targets import (
    DEFAULT_MAX_GAP_HOURS,
    DEFAULT_OBSERVATION_HOURS,
    DEFAULT_TOLERANCE_HOURS,
    TARGETS_NAME,
    TargetsError,
    build_targets,
    compute_targets,
)
from trendflow.store.npz import read_npz

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
HEADER = [
    "platform",
    "video_id",
    "channel",
    "published_at",
    "observed_at",
    "views",
    "likes",
    "channel_followers",
    "caption",
]
SOURCE = SourceInfo(where="test", sha256="0" * 64, rows=0, videos=0, duplicates=0)


def history(
    points: Sequence[tuple[float, int | None, int | None]], *, video_id: str = "v1"
) -> VideoHistory:
    """A video published at T0 with snapshots at (age hours, views, likes)."""
    return VideoHistory(
        platform="tiktok",
        video_id=video_id,
        published_at=T0,
        channel="chan",
        caption="hello #cats @bob",
        channel_followers=1000,
        observations=tuple(
            Observation(T0 + timedelta(hours=age), views, likes) for age, views, likes in points
        ),
    )


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def curve(age_hours: float) -> float:
    """A known log-linear growth: log1p(V) = 2 + 1.5 log(age)."""
    return math.expm1(2.0 + 1.5 * math.log(age_hours))


def test_snapshot_within_tolerance_is_used_as_is() -> None:
    """A snapshot 1.5 h after day 7 stands for day 7; its age is recorded."""
    h = history([(20, 100, 10), (169.5, 5000, 400), (500, 9000, 700)])
    t = compute_targets(h, as_of=at(600), tolerance_hours=2.0)
    views = t.metrics["views"].horizons[0]
    assert (views.value, views.source, views.reason) == (5000.0, "snapshot", "")
    assert views.ages == (169.5, 169.5)
    likes = t.metrics["likes"].horizons[0]
    assert (likes.value, likes.source) == (400.0, "snapshot")


def test_interpolation_follows_a_log_linear_curve() -> None:
    """Between brackets 40 h apart, log1p(V) is linear in log(age): exact on such a curve."""
    ages = [20.0, 150.0, 190.0, 320.0, 350.0, 490.0, 520.0]
    h = history([(a, round(curve(a)), round(curve(a) / 10)) for a in ages])
    t = compute_targets(h, as_of=at(600), tolerance_hours=2.0, max_gap_hours=72.0)
    for i, days in enumerate((7, 14, 21)):
        value = t.metrics["views"].horizons[i]
        assert value.source == "interpolated"
        lo, hi = value.ages
        assert lo < days * 24 < hi
        # Rounding the counts to integers is the only error.
        assert value.value == pytest.approx(curve(days * 24), rel=2e-3)
    assert t.metrics["views"].horizons[0].ages == (150.0, 190.0)
    # The exact formula, from the two integer brackets.
    v0, v1 = round(curve(150.0)), round(curve(190.0))
    w = (math.log(168) - math.log(150)) / (math.log(190) - math.log(150))
    expected = math.expm1(math.log1p(v0) + w * (math.log1p(v1) - math.log1p(v0)))
    assert t.metrics["views"].horizons[0].value == pytest.approx(expected, rel=1e-12)


def test_a_gap_wider_than_max_gap_is_snapshot_gap() -> None:
    """Brackets 100 h apart around day 7 give no value; with max_gap 120 h they do."""
    h = history([(10, 50, 5), (110, 900, 80), (210, 1500, 120), (600, 2000, 150)])
    narrow = compute_targets(h, as_of=at(700), max_gap_hours=72.0)
    assert narrow.metrics["views"].horizons[0].reason == "snapshot_gap"
    assert math.isnan(narrow.metrics["views"].horizons[0].value)
    assert narrow.metrics["views"].delta_reason[0] == "snapshot_gap"
    wide = compute_targets(h, as_of=at(700), max_gap_hours=120.0)
    assert wide.metrics["views"].horizons[0].source == "interpolated"


def test_no_value_is_ever_extrapolated() -> None:
    """Snapshots stop at day 10 while the source runs to day 30: days 14 and 21 are gaps."""
    h = history([(12, 100, 10), (24 * 7, 800, 60), (24 * 10, 900, 70)])
    t = compute_targets(h, as_of=at(24 * 30))
    views = t.metrics["views"]
    assert views.horizons[0].source == "snapshot"
    assert [v.reason for v in views.horizons[1:]] == ["snapshot_gap", "snapshot_gap"]
    assert all(math.isnan(v.value) for v in views.horizons[1:])


def test_a_video_too_young_for_day_21_has_horizon_not_reached(tmp_path: Path) -> None:
    """Published 15 days before as_of: day 21 is absent (horizon_not_reached), never a value,
    even when a snapshot taken after as_of sits exactly on day 21."""
    h = history([(d * 24.0, 100 * d + 1, 10 * d) for d in range(22)])
    as_of = at(15 * 24)
    t = compute_targets(h, as_of=as_of)
    assert [v.reason for v in t.metrics["views"].horizons] == ["", "", "horizon_not_reached"]
    assert t.snapshots == 16  # the snapshots after as_of are not looked at
    build_targets([h], tmp_path, as_of=as_of, source=SOURCE)
    arrays, meta = read_npz(tmp_path / "tiktok" / "v1" / TARGETS_NAME)
    assert arrays["views_present"].tolist() == [True, True, False]
    assert arrays["views_empty_reason"].tolist() == ["", "", "horizon_not_reached"]
    assert math.isnan(arrays["views"][2])
    assert math.isnan(arrays["views_delta_log1p"][2])
    assert arrays["likes_source"].tolist() == ["snapshot", "snapshot", ""]
    assert meta["as_of"] == as_of.isoformat()
    assert meta["empty_reason"] is None


def test_falling_counts_are_recorded_and_the_difference_clipped(tmp_path: Path) -> None:
    """Views audited down below the observation point's count: every fall is in meta['falls'],
    log1p(V_h - V_obs) is 0 and flagged, log1p(V_h) - log1p(V_obs) stays negative."""
    h = history([(6, 400, 5), (24, 1000, 20), (100, 1200, 30), (168, 900, 40), (336, 950, 41)])
    build_targets([h], tmp_path, as_of=at(24 * 22), source=SOURCE)
    arrays, meta = read_npz(tmp_path / "tiktok" / "v1" / TARGETS_NAME)
    assert meta["falls"] == [
        {"metric": "views", "observed_at": at(168).isoformat(), "from": 1200, "to": 900}
    ]
    assert arrays["views"][0] == 900.0
    assert arrays["views_fell"].tolist()[:2] == [True, True]
    assert arrays["views_delta_log1p"][0] == 0.0
    assert arrays["views_delta_logdiff"][0] == pytest.approx(math.log1p(900) - math.log1p(1000))
    assert not arrays["likes_fell"].any()
    assert arrays["likes_delta_log1p"][0] == pytest.approx(math.log1p(40 - 20))


def test_the_observation_point_never_uses_a_later_snapshot() -> None:
    """Changing or adding snapshots after published_at + 24 h changes neither the early
    features nor V_obs; a snapshot exactly at 24 h is the observation point."""
    base = [(3.0, 30, 1), (11.0, 200, 9), (24.0, 700, 40), (30.0, 900, 50), (170.0, 5000, 300)]
    h = history(base)
    changed = history([*base[:3], (24.001, 99_999, 9_999), (30.0, 50_000, 5_000), base[4]])
    assert early_features(h) == early_features(changed)
    assert _nan_equal(feature_row(h, run_dir=None), feature_row(changed, run_dir=None))
    t, tc = (compute_targets(x, as_of=at(200)) for x in (h, changed))
    assert t.metrics["views"].obs == tc.metrics["views"].obs == 700.0
    assert t.obs_age_hours == tc.obs_age_hours == 24.0
    row = early_features(h)
    assert row["early.views_obs_log1p"] == pytest.approx(math.log1p(700))
    assert row["early.views_at_6h_log1p"] == pytest.approx(math.log1p(30))
    assert row["early.views_at_12h_log1p"] == pytest.approx(math.log1p(200))
    assert row["early.likes_at_24h_log1p"] == pytest.approx(math.log1p(40))
    # A 12 h observation point keeps only the 6 h and 12 h columns.
    short = early_features(h, observation_hours=12)
    assert "early.views_at_18h_log1p" not in short
    assert short["early.views_obs_log1p"] == pytest.approx(math.log1p(200))


def _nan_equal(a: dict[str, float], b: dict[str, float]) -> bool:
    return a.keys() == b.keys() and all(
        (math.isnan(a[k]) and math.isnan(b[k])) or a[k] == b[k] for k in a
    )


def test_without_an_observation_point_the_deltas_are_nan() -> None:
    """First snapshot at 30 h: targets present, deltas NaN with no_observation_point."""
    h = history([(30, 500, 20), (168, 4000, 100)])
    t = compute_targets(h, as_of=at(200))
    views = t.metrics["views"]
    assert views.horizons[0].value == 4000.0
    assert math.isnan(views.obs)
    assert views.delta_reason[0] == "no_observation_point"
    assert math.isnan(views.delta_log1p[0])
    assert math.isnan(t.obs_age_hours)


def test_a_count_missing_in_a_row_is_skipped_for_that_count_only() -> None:
    """Likes not observed at day 7: views use that snapshot, likes interpolate around it."""
    h = history([(20, 100, 10), (150, 800, 50), (168, 1000, None), (190, 1100, 70)])
    t = compute_targets(h, as_of=at(400))
    assert t.metrics["views"].horizons[0].source == "snapshot"
    assert t.metrics["likes"].horizons[0].source == "interpolated"
    assert t.metrics["likes"].horizons[0].ages == (150.0, 190.0)


def test_parameters_are_checked() -> None:
    """An observation point past day 7 or a negative tolerance is refused, naming it."""
    h = history([(1, 1, 1)])
    with pytest.raises(TargetsError, match="observation_hours"):
        compute_targets(h, as_of=at(10), observation_hours=200)
    with pytest.raises(TargetsError, match="tolerance_hours"):
        compute_targets(h, as_of=at(10), tolerance_hours=-1)


# ------------------------------------------------------------------ readers


def table_rows() -> list[dict[str, Any]]:
    """Two videos, one with a duplicated observation, one young."""
    rows: list[dict[str, Any]] = []
    for age, views, likes in [(2, 10, 1), (24, 300, 20), (170, 2000, 90), (336, 3000, 120)]:
        rows.append(_row("a1", T0, at(age), views, likes))
    rows.append(_row("a1", T0, at(24), 300, 20))  # duplicate of the 24 h row
    rows.append(_row("a1", T0, at(504), 3500, None))
    young = T0 + timedelta(days=15)
    for hours, views in [(5, 40), (23, 90), (168, 700), (168 + 24, 750)]:
        rows.append(
            _row("b2", young, young + timedelta(hours=hours), views, views // 10, caption="")
        )
    return rows


def _row(
    video: str,
    published: datetime,
    observed: datetime,
    views: int | None,
    likes: int | None,
    *,
    caption: str = "hi #x",
) -> dict[str, Any]:
    return {
        "platform": "tiktok",
        "video_id": video,
        "channel": "chan_" + video[0],
        "published_at": published,
        "observed_at": observed,
        "views": views,
        "likes": likes,
        "channel_followers": 1234,
        "caption": caption,
    }


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=HEADER)
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    k: v.isoformat() if isinstance(v, datetime) else ("" if v is None else v)
                    for k, v in row.items()
                }
            )
    return path


def write_parquet(path: Path, rows: list[dict[str, Any]]) -> Path:
    columns = {name: [row[name] for row in rows] for name in HEADER}
    types = {
        "published_at": pa.timestamp("us", tz="UTC"),
        "observed_at": pa.timestamp("us", tz="UTC"),
        "views": pa.int64(),
        "likes": pa.int64(),
        "channel_followers": pa.int64(),
    }
    table = pa.table({n: pa.array(v, type=types.get(n, pa.string())) for n, v in columns.items()})
    pq.write_table(table, path)
    return path


def test_csv_and_parquet_give_identical_targets(tmp_path: Path) -> None:
    """The same table as CSV and as Parquet gives the same histories and the same NPZ (but
    for the recorded source)."""
    rows = table_rows()
    from_csv, csv_info = load_histories(str(write_csv(tmp_path / "s.csv", rows)))
    from_pq, pq_info = load_histories(str(write_parquet(tmp_path / "s.parquet", rows)))
    assert from_csv == from_pq
    assert (csv_info.rows, csv_info.videos, csv_info.duplicates) == (10, 2, 1)
    assert csv_info.sha256 == hashlib.sha256((tmp_path / "s.csv").read_bytes()).hexdigest()
    a1 = from_csv[0]
    assert [o.views for o in a1.observations] == [10, 300, 2000, 3000, 3500]
    assert a1.observations[-1].likes is None
    assert (a1.channel, a1.caption, a1.channel_followers) == ("chan_a", "hi #x", 1234)
    build_targets(from_csv, tmp_path / "c", as_of=None, source=csv_info)
    build_targets(from_pq, tmp_path / "p", as_of=None, source=pq_info)
    for video in ("a1", "b2"):
        ca, cm = read_npz(tmp_path / "c" / "tiktok" / video / TARGETS_NAME)
        pa_, pm = read_npz(tmp_path / "p" / "tiktok" / video / TARGETS_NAME)
        assert ca.keys() == pa_.keys()
        for key in ca:
            np.testing.assert_array_equal(ca[key], pa_[key], err_msg=key)
        assert cm["source"]["sha256"] != pm["source"]["sha256"]
        assert {k: v for k, v in cm.items() if k != "source"} == {
            k: v for k, v in pm.items() if k != "source"
        }
    young, _ = read_npz(tmp_path / "c" / "tiktok" / "b2" / TARGETS_NAME)
    assert young["views_empty_reason"].tolist() == ["", *["horizon_not_reached"] * 2]


class _Export(BaseHTTPRequestHandler):
    """SM Core's export as seen on the wire: text/csv behind X-API-Key."""

    body = b""
    seen: list[dict[str, str]] = []  # noqa: RUF012 - one test server, its requests in order
    fail_first: list[int] = []  # noqa: RUF012 - statuses to answer before the body

    def do_GET(self) -> None:
        _Export.seen.append({"path": self.path, **dict(self.headers.items())})
        if _Export.fail_first:
            self.send_response(_Export.fail_first.pop(0))
            self.send_header("Retry-After", "0")
            self.end_headers()
            return
        if self.headers.get("X-API-Key") != "secret":
            self.send_response(401)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/csv; charset=utf-8")
        self.end_headers()
        for start in range(0, len(self.body), 64):  # streamed in small pieces
            self.wfile.write(self.body[start : start + 64])

    def log_message(self, *_args: Any) -> None:
        return


@pytest.fixture
def export_server(tmp_path: Path) -> Iterator[str]:
    _Export.body = write_csv(tmp_path / "export.csv", table_rows()).read_bytes()
    _Export.seen.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Export)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_reads_sm_core_export_over_http(export_server: str, tmp_path: Path) -> None:
    """The URL's bytes are read with X-API-Key, a 503 with Retry-After is retried, and the
    result equals the local CSV's; a bare host gets the export path."""
    url = f"{export_server}/api/v1/exports/post-metrics?platform=tiktok"
    _Export.fail_first[:] = [503]
    histories, info = load_histories(url, api_key="secret")
    assert [s["path"] for s in _Export.seen] == ["/api/v1/exports/post-metrics?platform=tiktok"] * 2
    assert _Export.seen[-1]["X-API-Key"] == "secret"
    assert info.where == url
    assert info.sha256 == hashlib.sha256(_Export.body).hexdigest()
    local, _ = load_histories(str(tmp_path / "export.csv"))
    assert histories == local
    load_histories(export_server, api_key="secret")
    assert _Export.seen[-1]["path"] == "/api/v1/exports/post-metrics"
    with pytest.raises(SnapshotError, match="API key"):
        load_histories(url, api_key="wrong")
    assert _Export.seen[-1]["X-API-Key"] == "wrong"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"observed_at": "2025-03-02T12:00:00"}, r"line 3: observed_at .* no UTC offset"),
        ({"views": "-5"}, r"line 3: views -5 is negative"),
        ({"likes": "12.5"}, r"line 3: likes '12.5' is not a whole number"),
        ({"published_at": "yesterday"}, r"line 3: published_at 'yesterday' is not an ISO"),
        ({"observed_at": "2025-02-01T00:00:00+00:00"}, r"line 3: observed_at .* before"),
        ({"video_id": "../x"}, r"line 3: video_id"),
        ({"published_at": "2025-03-01T13:00:00+00:00"}, r"published_at differs"),
    ],
)
def test_bad_rows_are_refused_naming_the_row(
    tmp_path: Path, change: dict[str, str], message: str
) -> None:
    """Each invalid cell is reported with its line and what to write instead."""
    rows = [_row("a1", T0, at(1), 5, 1), _row("a1", T0, at(30), 50, 4)]
    path = write_csv(tmp_path / "s.csv", rows)
    lines = path.read_text().splitlines()
    record = dict(zip(HEADER, next(csv.reader([lines[2]])), strict=True)) | change
    lines[2] = ",".join(record[h] for h in HEADER)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(SnapshotError, match=message):
        load_histories(str(path))


def test_unusable_sources_are_refused(tmp_path: Path) -> None:
    """A missing column, an unknown suffix, naive Parquet times, a missing file."""
    (tmp_path / "s.csv").write_text("platform,video_id,observed_at,views\n")
    with pytest.raises(SnapshotError, match=r"missing column.*published_at.*likes"):
        load_histories(str(tmp_path / "s.csv"))
    with pytest.raises(SnapshotError, match=r"\.csv or \.parquet"):
        load_histories(str(tmp_path / "s.json"))
    with pytest.raises(SnapshotError, match="cannot read"):
        load_histories(str(tmp_path / "absent.csv"))
    naive = pa.table(
        {
            "platform": ["tiktok"],
            "video_id": ["v"],
            "published_at": pa.array([datetime(2025, 1, 1)], pa.timestamp("us")),
            "observed_at": pa.array([datetime(2025, 1, 2)], pa.timestamp("us")),
            "views": [1],
            "likes": [1],
        }
    )
    pq.write_table(naive, tmp_path / "n.parquet")
    with pytest.raises(SnapshotError, match="without a time zone"):
        load_histories(str(tmp_path / "n.parquet"))


def test_cli_builds_targets_and_summarises(tmp_path: Path) -> None:
    """`targets build` writes one NPZ per video and reports counts per reason; bad input → 2."""
    source = write_csv(tmp_path / "s.csv", table_rows())
    runner = CliRunner()
    result = runner.invoke(targets_app, ["build", str(source), "--out", str(tmp_path / "t")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        targets_app,
        ["build", str(source), "--out", str(tmp_path / "t"), "--json", "--max-gap-hours", "48"],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["videos"] == 2
    assert report["counts"]["views.h7"] == {"snapshot": 2}
    assert report["counts"]["views.h21"] == {"horizon_not_reached": 1, "snapshot": 1}
    assert report["counts"]["likes.h21"] == {"horizon_not_reached": 1, "snapshot_gap": 1}
    _, meta = read_npz(tmp_path / "t" / "tiktok" / "a1" / TARGETS_NAME)
    assert meta["max_gap_hours"] == 48.0
    bad = runner.invoke(targets_app, ["build", str(tmp_path / "nope.csv"), "--out", "x"])
    assert bad.exit_code == 2
    naive = runner.invoke(
        targets_app, ["build", str(source), "--out", "x", "--as-of", "2025-04-01T00:00:00"]
    )
    assert naive.exit_code == 2
    assert "offset" in naive.output


def test_the_as_of_option_hides_later_snapshots(tmp_path: Path) -> None:
    """With --as-of at day 10 the day 14 and 21 targets of the first video are not reached."""
    hist = history([(24, 10, 1), (168, 100, 5), (336, 200, 9), (504, 300, 12)])
    report = build_targets(
        [hist, replace(hist, video_id="v2")], tmp_path, as_of=at(240), source=SOURCE
    )
    assert dict(report.counts["views.h14"]) == {"horizon_not_reached": 2}
    arrays, meta = read_npz(tmp_path / "tiktok" / "v1" / TARGETS_NAME)
    assert meta["snapshots"] == 2
    assert arrays["views_present"].tolist() == [True, False, False]


def test_the_cli_defaults_are_the_services() -> None:
    """The command line's defaults (kept import-light) equal the service's."""
    assert cli_data.DEFAULT_OBSERVATION_HOURS == DEFAULT_OBSERVATION_HOURS
    assert cli_data.DEFAULT_TOLERANCE_HOURS == DEFAULT_TOLERANCE_HOURS
    assert cli_data.DEFAULT_MAX_GAP_HOURS == DEFAULT_MAX_GAP_HOURS
