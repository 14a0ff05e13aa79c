"""Celery beat schedules the lag sweep and a worker runs it into the database, on real servers."""

from __future__ import annotations

import os
import sqlite3

import pytest

from tests.polling import wait_until
from tests.processes import celery, migrate


@pytest.mark.slow
@pytest.mark.xdist_group("processes")
def test_beat_and_worker_sample_lag_into_the_database(tmp_path, redis_url, kafka_bootstrap, nats_urls):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "console.settings",
        "STREAMDESK_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'beat.sqlite3'}",
        "REDIS_URL": redis_url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "NATS_URL": nats_urls[0],
        "NATS_MONITOR_URL": nats_urls[1],
        "STREAMDESK_LAG_SAMPLE_SECONDS": "1",
    }
    migrate(env)
    with celery(env, tmp_path, name=f"lag-{os.getpid()}", beat=True):

        def swept() -> set[str]:
            with sqlite3.connect(tmp_path / "beat.sqlite3", timeout=10) as db:
                rows = db.execute("SELECT DISTINCT cluster FROM streams_lagsweep WHERE error = ''").fetchall()
            return {row[0] for row in rows}

        wait_until(
            swept,
            until=lambda clusters: clusters == {"kafka", "nats"},
            timeout=60,
            interval=0.5,
            message="beat -> worker storing a lag sweep of both clusters",
        )
