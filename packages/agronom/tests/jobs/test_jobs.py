"""The scheduled jobs on a real Temporal server, with the clock moved by the test."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from temporalio.testing import WorkflowEnvironment

from agronom.jobs import schedules
from agrosim import photos


async def _diagnose(api, sign, tg_id: int, **kwargs):
    return await api.post(
        "/v1/ai/diagnose",
        auth=sign(tg_id),
        files={"image": ("leaf.jpg", photos.leaf(**kwargs), "image/jpeg")},
    )


async def test_the_n_plus_first_photo_is_refused_until_the_monthly_reset(
    *, api, sign, sql, clock, jobs, vision
) -> None:
    for n in range(3):  # the free quota in the test settings
        response = await _diagnose(api, sign, 42, seed=n)
        assert response.status_code == 200, response.text
    refused = await _diagnose(api, sign, 42)
    assert refused.status_code == 429
    assert refused.json()["error_code"] == "LIMIT_EXCEEDED"
    assert sql.one("SELECT count(*) FROM photos") == 3, "a refused photo is not stored"
    limits = (await api.get("/v1/limits", auth=sign(42))).json()
    assert (limits["used"], limits["allowed"], limits["remaining"]) == (3, 3, 0)

    clock.now = datetime(2026, 4, 1, 0, 0, 5)
    result = await jobs.run("agronom.QuotaReset", clock.now)
    assert result.counts == {"opened": 1, "dropped": 0}
    assert sql("SELECT month, used FROM photo_usage ORDER BY month") == [
        ("2026-03", 3),
        ("2026-04", 0),
    ]
    assert (await api.get("/v1/limits", auth=sign(42))).json()["remaining"] == 3
    accepted = await _diagnose(api, sign, 42)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["usage"] == {"used": 1, "allowed": 3}


async def test_the_quota_month_turns_at_midnight_in_moscow_not_utc(
    *, api, sign, sql, clock, vision
) -> None:
    clock.now = datetime(2026, 3, 31, 20, 59)  # 23:59 on 31 March in Moscow (UTC+3)
    for n in range(3):  # the free quota in the test settings
        assert (await _diagnose(api, sign, 43, seed=n)).status_code == 200
    assert (await _diagnose(api, sign, 43)).status_code == 429
    march = (await api.get("/v1/limits", auth=sign(43))).json()
    assert (march["month"], march["remaining"]) == ("2026-03", 0)

    clock.now = datetime(2026, 3, 31, 21, 0, 5)  # 00:00:05 on 1 April there; March in UTC
    april = (await api.get("/v1/limits", auth=sign(43))).json()
    assert (april["month"], april["remaining"]) == ("2026-04", 3)
    assert (await _diagnose(api, sign, 43)).status_code == 200
    assert sql("SELECT month, used FROM photo_usage ORDER BY month") == [
        ("2026-03", 3),
        ("2026-04", 1),
    ]


async def test_photos_leave_storage_at_90_days_and_rows_30_days_later(
    *, api, sign, sql, clock, jobs, store, vision
) -> None:
    start = clock.now
    assert (await _diagnose(api, sign, 7)).status_code == 200
    assert len(await store.list("photos/")) == 1

    day_89 = await jobs.run("agronom.PhotoRetention", datetime(2026, 6, 7))
    assert day_89.counts == {"expired": 0, "hard_deleted": 0}
    assert len(await store.list("photos/")) == 1

    day_91 = await jobs.run("agronom.PhotoRetention", datetime(2026, 6, 9))
    assert day_91.counts == {"expired": 1, "hard_deleted": 0}
    assert await store.list("photos/") == []
    assert sql("SELECT deleted FROM photos") == [(True,)]
    assert sql.one("SELECT count(*) FROM protocols") == 1

    day_121 = await jobs.run("agronom.PhotoRetention", datetime(2026, 7, 9))
    assert day_121.counts == {"expired": 0, "hard_deleted": 1}
    assert sql("SELECT * FROM photos") == []
    assert sql("SELECT * FROM protocols") == []
    assert start < datetime(2026, 6, 9)


async def test_opted_in_ok_photos_are_copied_to_the_dataset_for_two_years(
    *, api, sign, sql, clock, jobs, store, vision
) -> None:
    assert (await _diagnose(api, sign, 8, spots="brown")).status_code == 200  # no consent yet
    assert (await _diagnose(api, sign, 9, spots="white")).status_code == 200
    consent = await api.put("/v1/ml/consent", auth=sign(9), json={"enabled": True})
    assert consent.json() == {"ml_opt_in": True}

    copied = await jobs.run("agronom.MlDataset", clock.now)
    assert copied.counts == {"copied": 1, "removed": 0}
    keys = sorted(o.key for o in await store.list("ml-dataset/"))
    assert len(keys) == 2 and keys[0].endswith(".jpg") and keys[1].endswith(".json")
    labels = (await store.get(keys[1])).decode()
    assert '"disease": "powdery_mildew"' in labels
    again = await jobs.run("agronom.MlDataset", clock.now)
    assert again.counts == {"copied": 0, "removed": 0}, "copied once"

    # Stored objects age by the store's own clock (file times, S3 LastModified): real time.
    later = await jobs.run("agronom.MlDataset", datetime.now() + timedelta(days=731))
    assert later.counts == {"copied": 0, "removed": 2}, "the 2-year TTL"
    assert await store.list("ml-dataset/") == []


async def test_a_photo_gone_from_the_store_is_not_copied_to_the_dataset(
    *, api, sign, clock, jobs, store, vision
) -> None:
    assert (await _diagnose(api, sign, 9, spots="white")).status_code == 200
    consent = await api.put("/v1/ml/consent", auth=sign(9), json={"enabled": True})
    assert consent.status_code == 200
    (photo,) = await store.list("photos/")
    await store.delete(photo.key)  # as if it expired after the job's query

    copied = await jobs.run("agronom.MlDataset", clock.now)
    assert copied.counts == {"copied": 0, "removed": 0}
    assert await store.list("ml-dataset/") == []


async def test_withdrawn_consent_removes_the_dataset_copies(
    *, api, sign, clock, jobs, store, vision
) -> None:
    await api.put("/v1/ml/consent", auth=sign(10), json={"enabled": True})
    assert (await _diagnose(api, sign, 10)).status_code == 200
    assert (await jobs.run("agronom.MlDataset", clock.now)).counts["copied"] == 1
    clock.advance(minutes=1)
    await api.put("/v1/ml/consent", auth=sign(10), json={"enabled": False})
    assert (await api.get("/v1/limits", auth=sign(10))).json()["ml_opt_in"] is False
    assert (await jobs.run("agronom.MlDataset", clock.now)).counts == {"copied": 0, "removed": 2}


async def test_the_daily_export_writes_metrics_for_metabase(
    *, api, sign, clock, jobs, store, vision, sql
) -> None:
    assert (await _diagnose(api, sign, 11, spots="brown")).status_code == 200
    assert (await _diagnose(api, sign, 12)).status_code == 200
    result = await jobs.run("agronom.MetricsExport", datetime(2026, 3, 11, 0, 15))
    assert result.counts["active_users"] == 2
    metrics = dict(
        csv.reader(io.StringIO((await store.get("exports/daily/2026-03-10/metrics.csv")).decode()))
    )
    assert metrics["photos"] == "2" and metrics["photos_ok"] == "2"
    assert metrics["new_users"] == "2"
    assert metrics["disease:late_blight"] == "1" and metrics["disease:healthy"] == "1"
    table = dict(sql("SELECT metric, value FROM daily_metrics WHERE day = '2026-03-10'"))
    csv_figures = {k: int(v) for k, v in metrics.items() if k != "metric"}  # not the header
    assert table == csv_figures, "Metabase reads the same figures"
    await jobs.run("agronom.MetricsExport", datetime(2026, 3, 11, 0, 15))
    assert sql.one("SELECT count(*) FROM daily_metrics") == len(table), "a re-run replaces"
    activity = (await store.get("exports/daily/2026-03-10/user_activity.csv")).decode()
    assert activity.splitlines()[0] == "user_ref,photos,photos_ok,photos_failed,plan"
    assert len(activity.splitlines()) == 3
    assert "11" not in activity.split("\n", 1)[1].replace(",1,1,0,free", ""), "no Telegram ids"


async def test_the_daily_export_counts_the_users_day_not_utcs(
    *, api, sign, clock, jobs, store, vision
) -> None:
    clock.now = datetime(2026, 3, 10, 22, 30)  # 01:30 on the 11th in Moscow
    assert (await _diagnose(api, sign, 13)).status_code == 200
    await jobs.run("agronom.MetricsExport", datetime(2026, 3, 10, 21, 15))  # 00:15 Moscow
    tenth = dict(
        csv.reader(io.StringIO((await store.get("exports/daily/2026-03-10/metrics.csv")).decode()))
    )
    assert tenth["photos"] == "0", "01:30 in Moscow is the 11th there"
    await jobs.run("agronom.MetricsExport", datetime(2026, 3, 11, 21, 15))
    eleventh = dict(
        csv.reader(io.StringIO((await store.get("exports/daily/2026-03-11/metrics.csv")).decode()))
    )
    assert eleventh["photos"] == "1"


async def test_payments_older_than_five_years_are_purged(*, sql, jobs) -> None:
    sql(
        "INSERT INTO payments (amount, currency, status, provider, external_id, autopay, "
        "created_at, updated_at) VALUES "
        "(100, 'RUB', 'success', 'SBP:Tinkoff', 'old', false, '2021-03-09 23:59', now()), "
        "(100, 'RUB', 'success', 'SBP:Tinkoff', 'edge', false, '2021-03-10 12:00', now()), "
        "(100, 'RUB', 'success', 'SBP:Tinkoff', 'young', false, '2024-01-01', now()) "
        "RETURNING id"
    )
    result = await jobs.run("agronom.PaymentRetention", datetime(2026, 3, 10, 12, 0))
    assert result.counts == {"purged": 1}
    assert sql("SELECT external_id FROM payments ORDER BY external_id") == [("edge",), ("young",)]


async def test_the_schedules_exist_with_their_cron_and_can_be_updated(
    temporal_env: WorkflowEnvironment,
) -> None:
    prefix = f"t{uuid.uuid4().hex[:6]}-"
    zone = "Europe/Moscow"
    ids = await schedules.ensure(temporal_env.client, task_queue="q", prefix=prefix, zone=zone)
    assert (
        await schedules.ensure(temporal_env.client, task_queue="q2", prefix=prefix, zone=zone)
        == ids
    )
    try:
        for job in schedules.JOBS:
            described = await temporal_env.client.get_schedule_handle(
                prefix + job.schedule_id
            ).describe()
            assert described.schedule.action.task_queue == "q2"  # type: ignore[union-attr]
            minute, hour, day = job.cron.split()[:3]
            # The users' calendar jobs fire at their cron's hour in Moscow (21:00 UTC for 00:00).
            calendar = ZoneInfo(zone if job.local else "UTC")
            for utc_moment in described.info.next_action_times:
                moment = utc_moment.astimezone(calendar)
                if minute.startswith("*/"):  # every N minutes
                    assert moment.minute % int(minute[2:]) == 0
                else:
                    assert moment.minute == int(minute)
                if hour != "*":
                    assert moment.hour == int(hour)
                if day != "*":
                    assert moment.day == int(day)
            assert described.info.next_action_times, "scheduled"
    finally:
        for sid in ids:
            await temporal_env.client.get_schedule_handle(sid).delete()
