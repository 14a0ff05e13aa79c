"""The pages that show lag status and history: the Lag overview, the groups list, group and consumer pages."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.conf import settings
from django.core.cache import cache

from console.charts import history_chart, path_data, sparkline
from streams.lag import tasks
from streams.lag.history import Point
from tests.kafka import helpers as kafka
from tests.lag.helpers import STEP, sweep, times
from tests.nats import helpers as nats

pytestmark = pytest.mark.django_db


@pytest.fixture
def sampled(kafka_bootstrap, nats_urls, unique):
    """A stopped Kafka group (ERR), a caught-up one (OK) and a stopped JetStream consumer, sampled three times."""
    topic = kafka.create_topic(kafka_bootstrap, unique)
    kafka.produce(kafka_bootstrap, topic, [b"x"] * 9)
    kafka.commit(kafka_bootstrap, f"{unique}-stuck", {(topic, 0): 1})
    kafka.commit(kafka_bootstrap, f"{unique}-fine", {(topic, 0): 9})
    url = nats_urls[0]
    stream = nats.create_own_stream(url, unique)
    nats.publish(url, [(f"{unique}.a", b"m", None)] * 3)
    nats.add_consumer(url, stream, "stuck")
    for at in times(3):
        sweep("kafka", at)
        sweep("nats", at)
    return topic, stream


def test_overview_answers_from_samples_broken_first(viewer_client, sampled, unique):
    _, stream = sampled
    data = viewer_client.get("/api/v1/lag", {"limit": 100}).json()
    assert data["sort"] == "status"
    sections = {c["slug"]: c for c in data["clusters"]}
    kafka_section = sections["kafka"]
    assert kafka_section["source"] == "samples" and kafka_section["sampled_at"]
    severity = {"ERR": 3, "WARN": 2, "OK": 1}
    ranks = [severity[g["status"]] for g in kafka_section["items"]]
    assert ranks == sorted(ranks, reverse=True)
    groups = {g["group"]: g for g in kafka_section["items"]}
    stuck = groups[f"{unique}-stuck"]
    assert (stuck["status"], stuck["lag"]) == ("ERR", 8) and stuck["sparkline"] == [8, 8, 8]
    assert groups[f"{unique}-fine"]["status"] == "OK"
    consumer = next(c for c in sections["nats"]["items"] if c["stream"] == stream)
    assert (consumer["consumer"], consumer["status"], consumer["lag"]) == ("stuck", "ERR", 3)

    by_lag = viewer_client.get("/api/v1/lag", {"limit": 100, "sort": "lag"}).json()
    lags = [g["lag"] for g in by_lag["clusters"][0]["items"] if g["lag"] is not None]
    assert lags == sorted(lags, reverse=True)

    page = viewer_client.get("/lag").content.decode()
    assert 'class="spark"' in page and "lag-err" in page and f"{unique}-stuck" in page


def test_groups_list_shows_status_and_sorts_by_it(viewer_client, sampled, unique):
    data = viewer_client.get("/api/v1/clusters/kafka/groups", {"q": unique, "sort": "status"}).json()
    assert [(g["group"], g["status"]) for g in data["items"]] == [(f"{unique}-stuck", "ERR"), (f"{unique}-fine", "OK")]
    assert data["items"][0]["sparkline"] == [8, 8, 8]
    page = viewer_client.get("/clusters/kafka/groups", {"q": unique}).content.decode()
    assert 'class="spark"' in page and "lag-err" in page


def test_consumers_list_shows_status(viewer_client, sampled):
    _, stream = sampled
    data = viewer_client.get(f"/api/v1/clusters/nats/streams/{stream}/consumers").json()
    (item,) = data["items"]
    assert (item["name"], item["status"], item["sparkline"]) == ("stuck", "ERR", [3, 3, 3])
    page = viewer_client.get(f"/clusters/nats/streams/{stream}/consumers").content.decode()
    assert "lag-err" in page and 'class="spark"' in page


def test_group_and_consumer_pages_show_status_and_history(viewer_client, sampled, unique):
    _, stream = sampled
    page = viewer_client.get(f"/clusters/kafka/groups/{unique}-stuck").content.decode()
    assert 'id="lag-history"' in page and 'class="chart"' in page and 'class="line"' in page
    assert "lag-err" in page and "lag-stop" in page  # the group, and its partition
    assert f"/clusters/kafka/groups/{unique}-stuck/history?range=1h" in page

    consumer = viewer_client.get(f"/clusters/nats/streams/{stream}/consumers/stuck").content.decode()
    assert 'id="lag-history"' in consumer and 'class="chart"' in consumer and "lag-err" in consumer

    swapped = viewer_client.get(
        f"/clusters/nats/streams/{stream}/consumers/stuck/history", {"range": "1h"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert swapped.lstrip().startswith("<section") and 'aria-current="true">1h<' in swapped
    whole = viewer_client.get(f"/clusters/kafka/groups/{unique}-stuck/history").content.decode()
    assert "<html" in whole and 'class="chart"' in whole


def test_history_page_escapes_the_name(viewer_client):
    name = "<b>x</b>"
    page = viewer_client.get(f"/clusters/kafka/groups/{quote(name, safe='')}/history").content.decode()
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page


def test_charts_are_numbers_with_gaps():
    assert path_data([(0, 1), None, (2, 3), (4, 5)]) == "M0 1 M2 3 L4 5"
    line = sparkline([None, 4, 2, None, 0])
    assert line.d.startswith("M") and line.peak == 4 and line.last == 0
    assert line.dots == (("120", "23"),)  # the lone last point
    assert sparkline([None, None]).d == ""
    (t0, t1, t2) = times(3)
    chart = history_chart([Point(t0, 10), Point(t1, None), Point(t2, 30)], t0, t2 + STEP)
    assert chart.y_max == 50 and chart.gaps == 1 and len(chart.dots) == 2 and not chart.empty
    assert history_chart([], t0, t2).empty


def test_beat_schedules_sampling_and_downsampling():
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["sample-lag"]["task"] == "streams.lag.tasks.sample_lag"
    assert schedule["sample-lag"]["schedule"] == settings.LAG_SAMPLE_SECONDS
    assert schedule["downsample-lag"]["task"] == "streams.lag.tasks.downsample_lag"
    from console.celery import app

    app.loader.import_default_modules()
    assert {"streams.lag.tasks.sample_lag", "streams.lag.tasks.downsample_lag"} <= set(app.tasks)


def test_a_sweep_never_overlaps_the_previous_one(kafka_bootstrap, nats_urls):
    cache.set(tasks.LOCK_KEY, "someone else", 60)
    try:
        assert tasks.sample_lag() is None
    finally:
        cache.delete(tasks.LOCK_KEY)
    done = tasks.sample_lag()
    assert done is not None and {r["cluster"] for r in done} >= {"kafka", "nats"}
    assert all(r["ok"] for r in done) and cache.get(tasks.LOCK_KEY) is None
    assert tasks.downsample_lag()["buckets"] == 0
