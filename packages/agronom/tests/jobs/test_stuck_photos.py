"""Photos left ``pending``/``retrying`` by a crash are failed and their quota given back by the
``agronom.StuckPhotos`` job (real Temporal, the business clock moved by the test)."""

from __future__ import annotations

from datetime import timedelta


async def test_a_stuck_photo_is_failed_and_its_quota_given_back(
    *, sql, clock, jobs, settings
) -> None:
    sent = clock.now
    sql(
        "INSERT INTO users (tg_id, created_at) VALUES (9001, %s), (9002, %s) RETURNING id",
        sent,
        sent,
    )
    sql(
        "INSERT INTO photo_usage (user_id, month, used, updated_at) "
        "SELECT id, '2026-03', 2, %s FROM users RETURNING used",
        sent,
    )
    sql(
        "INSERT INTO photos (user_id, status, retry_attempts, ts) "
        "SELECT u.id, s.status::photo_status, s.retries, %s "
        "FROM users u, (VALUES ('pending', 0), ('retrying', 1), ('ok', 0)) s(status, retries) "
        "WHERE u.tg_id = 9001 RETURNING id",
        sent,
    )
    late = sent + timedelta(seconds=settings.stuck_photo_max_age_s - 60)
    sql(  # sent later: not stuck yet when the job runs
        "INSERT INTO photos (user_id, status, ts) SELECT id, 'pending', %s FROM users "
        "WHERE tg_id = 9002 RETURNING id",
        late,
    )

    result = await jobs.run("agronom.StuckPhotos", sent + timedelta(minutes=16))

    assert result.counts == {"released": 2}
    statuses = sql(
        "SELECT u.tg_id, p.status::text FROM photos p JOIN users u ON u.id = p.user_id "
        "ORDER BY p.id"
    )
    assert statuses == [(9001, "failed"), (9001, "failed"), (9001, "ok"), (9002, "pending")]
    used = dict(
        sql("SELECT u.tg_id, used FROM photo_usage JOIN users u ON u.id = user_id ORDER BY 1")
    )
    assert used == {9001: 0, 9002: 2}
    assert sql.one("SELECT count(*) FROM events WHERE event = 'photo_released'") == 2
    again = await jobs.run("agronom.StuckPhotos", sent + timedelta(minutes=20))
    assert again.counts == {"released": 0}, "released once"
