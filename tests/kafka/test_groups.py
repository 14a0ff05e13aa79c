"""Consumer groups: lag, paging and sorting, detail, offset resets and deletion, on the real broker."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from urllib.parse import quote

import pytest

from streams.models import AuditEvent
from tests.kafka import helpers as kh


@pytest.fixture
def lagging(kafka_bootstrap, unique) -> tuple[str, str]:
    """A topic with 6 + 4 records on two partitions and a group committed at 2 on p0 only."""
    topic, group = f"{unique}.t", f"{unique}-group"
    kh.create_topic(kafka_bootstrap, topic, partitions=2)
    kh.produce(kafka_bootstrap, topic, [b"a"] * 6, partition=0)
    kh.produce(kafka_bootstrap, topic, [b"b"] * 4, partition=1)
    kh.commit(kafka_bootstrap, group, {(topic, 0): 2})
    return topic, group


def _reset(client, group: str, **body):
    return client.post(f"/api/v1/clusters/kafka/groups/{group}/reset", body, content_type="application/json")


def test_group_detail_has_committed_high_and_lag_per_partition(viewer_client, kafka_broker, lagging):
    topic, group = lagging
    response = viewer_client.get(f"/api/v1/clusters/kafka/groups/{group}")
    assert response.status_code == 200
    body = response.json()
    assert body["group"] == group and body["lag"] == 4 and body["topics"] == [topic]
    rows = {(p["topic"], p["partition"]): p for p in body["partitions"]}
    assert (rows[(topic, 0)]["committed"], rows[(topic, 0)]["high"], rows[(topic, 0)]["lag"]) == (2, 6, 4)
    # a partition without a commit is marked, not counted as zero lag
    assert (rows[(topic, 1)]["committed"], rows[(topic, 1)]["high"], rows[(topic, 1)]["lag"]) == (None, 4, None)
    assert body["uncommitted"] == 1
    assert isinstance(body["members"], list) and body["state"]
    if kafka_broker == "apache":  # tansu says EMPTY of any group, known or not
        assert body["state"] == "EMPTY" and body["members"] == []


def test_groups_list_with_search_paging_and_lag(viewer_client, kafka_bootstrap, kafka_broker, unique):
    topic = f"{unique}.t"
    kh.create_topic(kafka_bootstrap, topic)
    kh.produce(kafka_bootstrap, topic, [b"x"] * 10, partition=0)
    for name, offset in (("a", 9), ("b", 1), ("c", 5)):
        kh.commit(kafka_bootstrap, f"{unique}-{name}", {(topic, 0): offset})
    by_name = viewer_client.get("/api/v1/clusters/kafka/groups", {"q": unique}).json()
    assert by_name["total"] == 3
    assert [(g["group"], g["lag"]) for g in by_name["items"]] == [
        (f"{unique}-a", 1),
        (f"{unique}-b", 9),
        (f"{unique}-c", 5),
    ]
    item = by_name["items"][0]
    assert item["topics"] == [topic] and "state" in item and "members" in item
    if kafka_broker == "apache":  # tansu lists every group as UNKNOWN
        assert {g["state"] for g in by_name["items"]} == {"EMPTY"}
    by_lag = viewer_client.get("/api/v1/clusters/kafka/groups", {"q": unique, "sort": "lag", "page_size": 2}).json()
    assert by_lag["total"] == 3 and [g["group"] for g in by_lag["items"]] == [f"{unique}-b", f"{unique}-c"]
    second = viewer_client.get("/api/v1/clusters/kafka/groups", {"q": unique, "sort": "lag", "page_size": 2, "page": 2})
    assert [g["group"] for g in second.json()["items"]] == [f"{unique}-a"]


@pytest.mark.parametrize(("params", "field"), [({"sort": "size"}, "sort"), ({"page_size": "501"}, "page_size")])
def test_bad_group_list_parameters_are_400(viewer_client, params, field):
    response = viewer_client.get("/api/v1/clusters/kafka/groups", params)
    assert response.status_code == 400 and response.json()["field"] == field


def test_unknown_group_is_404_everywhere(operator_client, unique):
    assert operator_client.get(f"/api/v1/clusters/kafka/groups/{unique}").status_code == 404
    assert operator_client.delete(f"/api/v1/clusters/kafka/groups/{unique}").status_code == 404
    assert _reset(operator_client, unique, topic="whatever", to="earliest").status_code == 404
    assert operator_client.get(f"/clusters/kafka/groups/{unique}").status_code == 404


def test_dry_run_previews_old_to_new_and_changes_nothing(operator_client, kafka_bootstrap, lagging):
    topic, group = lagging
    response = _reset(operator_client, group, topic=topic, to="earliest", dry_run=True)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["dry_run"] is True and body["blocked"] is None
    assert [(p["partition"], p["old"], p["new"]) for p in body["partitions"]] == [(0, 2, 0), (1, None, 0)]
    assert kh.committed(kafka_bootstrap, group, topic, [0, 1]) == {0: 2, 1: -1001}
    assert not AuditEvent.objects.filter(action="kafka.group.reset_offsets").exists()


@pytest.mark.parametrize(
    ("to", "value", "expected"),
    [("earliest", None, {0: 0, 1: 0}), ("latest", None, {0: 6, 1: 4}), ("offset", 3, {0: 3, 1: 3})],
)
def test_reset_moves_the_committed_offsets(operator_client, kafka_bootstrap, lagging, to, value, expected):
    topic, group = lagging
    response = _reset(operator_client, group, topic=topic, to=to, value=value)
    assert response.status_code == 200, response.content
    assert response.json()["dry_run"] is False
    assert kh.committed(kafka_bootstrap, group, topic, [0, 1]) == expected
    event = AuditEvent.objects.get(action="kafka.group.reset_offsets")
    assert event.result == "ok" and event.target == f"{group} @ {topic}" and event.params["to"] == to
    lag = operator_client.get(f"/api/v1/clusters/kafka/groups/{group}").json()["lag"]
    assert lag == sum({0: 6, 1: 4}[p] - o for p, o in expected.items())


def test_reset_to_a_time_and_one_partition(operator_client, kafka_bootstrap, unique):
    topic, group = f"{unique}.t", f"{unique}-g"
    kh.create_topic(kafka_bootstrap, topic, partitions=2)
    kh.produce(kafka_bootstrap, topic, [b"old"] * 3, partition=0)
    time.sleep(0.05)  # a time strictly between the messages' timestamps: only the clock makes one
    middle = datetime.now(UTC)
    time.sleep(0.05)
    kh.produce(kafka_bootstrap, topic, [b"new"] * 2, partition=0)
    kh.commit(kafka_bootstrap, group, {(topic, 0): 5, (topic, 1): 0})
    response = _reset(operator_client, group, topic=topic, to="timestamp", value=middle.isoformat(), partitions=[0])
    assert response.status_code == 200, response.content
    assert [(p["partition"], p["old"], p["new"]) for p in response.json()["partitions"]] == [(0, 5, 3)]
    assert kh.committed(kafka_bootstrap, group, topic, [0, 1]) == {0: 3, 1: 0}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"to": "earliest"}, "topic"),
        ({"topic": "bad topic", "to": "earliest"}, "topic"),
        ({"topic": "TOPIC", "to": "sideways"}, "to"),
        ({"topic": "TOPIC"}, "to"),
        ({"topic": "TOPIC", "to": "offset"}, "value"),
        ({"topic": "TOPIC", "to": "offset", "value": -4}, "value"),
        ({"topic": "TOPIC", "to": "timestamp", "value": "soon"}, "value"),
        ({"topic": "TOPIC", "to": "earliest", "partitions": [9]}, "partitions"),
        ({"topic": "TOPIC", "to": "earliest", "partitions": "0"}, "partitions"),
        ({"topic": "TOPIC", "to": "earliest", "dry_run": "maybe"}, "dry_run"),
    ],
)
def test_reset_rejects_bad_input_naming_the_field(operator_client, lagging, body, field):
    topic, group = lagging
    body = {k: (topic if v == "TOPIC" else v) for k, v in body.items()}
    response = _reset(operator_client, group, **body)
    assert response.status_code == 400, response.content
    assert response.json()["field"] == field


def test_reset_on_an_unknown_topic_is_404(operator_client, lagging, unique):
    _, group = lagging
    assert _reset(operator_client, group, topic=f"{unique}-nope", to="earliest").status_code == 404


def test_viewer_cannot_reset_or_delete(viewer_client, kafka_bootstrap, lagging):
    topic, group = lagging
    assert _reset(viewer_client, group, topic=topic, to="earliest").status_code == 403
    assert viewer_client.delete(f"/api/v1/clusters/kafka/groups/{group}").status_code == 403
    assert kh.committed(kafka_bootstrap, group, topic, [0]) == {0: 2}


def test_anonymous_gets_401(client, db, lagging):
    topic, group = lagging
    assert client.get("/api/v1/clusters/kafka/groups").status_code == 401
    assert _reset(client, group, topic=topic, to="earliest").status_code == 401


def test_operator_deletes_an_empty_group(operator_client, kafka_bootstrap, lagging):
    topic, group = lagging
    response = operator_client.delete(f"/api/v1/clusters/kafka/groups/{group}")
    assert response.status_code == 200 and response.json()["deleted"] == group
    assert kh.committed(kafka_bootstrap, group, topic, [0]) == {0: -1001}
    assert operator_client.get(f"/api/v1/clusters/kafka/groups/{group}").status_code == 404
    assert AuditEvent.objects.get(action="kafka.group.delete", target=group).result == "ok"


def test_active_group_refuses_reset_and_delete_with_409(operator_client, kafka_bootstrap, kafka_broker, lagging):
    topic, group = lagging
    with kh.live_member(kafka_bootstrap, group, topic):
        detail = operator_client.get(f"/api/v1/clusters/kafka/groups/{group}").json()
        assert detail["active"] is True
        if kafka_broker == "tansu":  # tansu's DescribeGroups names no members
            assert not detail["members_reported"] and "not supported by this broker" in detail["members_note"]
        elif kafka_broker == "apache":
            (member,) = detail["members"]
            assert detail["members_reported"] and detail["state"] == "STABLE", detail
            assert member["member_id"] and member["client_id"], member
        preview = _reset(operator_client, group, topic=topic, to="earliest", dry_run=True)
        assert preview.status_code == 200 and preview.json()["blocked"]
        assert [p["new"] for p in preview.json()["partitions"]] == [0, 0]
        refused = _reset(operator_client, group, topic=topic, to="earliest")
        assert refused.status_code == 409 and "active members" in refused.json()["error"]
        assert operator_client.delete(f"/api/v1/clusters/kafka/groups/{group}").status_code == 409
        assert kh.committed(kafka_bootstrap, group, topic, [0]) == {0: 2}
    events = AuditEvent.objects.filter(action__in=["kafka.group.reset_offsets", "kafka.group.delete"])
    assert {(e.action, e.result) for e in events} == {
        ("kafka.group.reset_offsets", "error"),
        ("kafka.group.delete", "error"),
    }


# -- pages -------------------------------------------------------------------------------


def test_groups_page_sorted_by_lag_with_partial(viewer_client, lagging):
    _, group = lagging
    page = viewer_client.get("/clusters/kafka/groups", {"sort": "lag", "q": group})
    html = page.content.decode()
    assert page.status_code == 200 and f'data-group="{group}"' in html
    assert 'aria-current="page">Consumer groups' in html
    partial = viewer_client.get("/clusters/kafka/groups", {"q": group}, headers={"HX-Request": "true"})
    assert b"<html" not in partial.content and f'data-group="{group}"'.encode() in partial.content
    none = viewer_client.get("/clusters/kafka/groups", {"q": f"{group}-none"})
    assert b"No consumer group matches" in none.content


def test_group_page_marks_no_commit_and_hides_writes_from_viewers(viewer_client, lagging):
    topic, group = lagging
    html = viewer_client.get(f"/clusters/kafka/groups/{group}").content.decode()
    assert f'data-topic="{topic}" data-partition="1"' in html and "no commit" in html
    assert "Reset offsets" not in html and "Delete group" not in html


def test_page_preview_then_reset_then_delete(operator_client, kafka_bootstrap, lagging):
    topic, group = lagging
    page = operator_client.get(f"/clusters/kafka/groups/{group}", {"preview": "1", "topic": topic, "to": "latest"})
    html = page.content.decode()
    assert 'id="reset-preview"' in html and "Dry run" in html
    assert kh.committed(kafka_bootstrap, group, topic, [0]) == {0: 2}

    done = operator_client.post(f"/clusters/kafka/groups/{group}/reset", {"topic": topic, "to": "latest"})
    assert done.status_code == 302 and done["Location"] == f"/clusters/kafka/groups/{group}"
    assert kh.committed(kafka_bootstrap, group, topic, [0, 1]) == {0: 6, 1: 4}

    wrong = operator_client.post(f"/clusters/kafka/groups/{group}/delete", {"confirm": "nope"})
    assert wrong.status_code == 302
    assert operator_client.get(f"/api/v1/clusters/kafka/groups/{group}").status_code == 200
    gone = operator_client.post(f"/clusters/kafka/groups/{group}/delete", {"confirm": group}, follow=True)
    assert f"Consumer group {group} deleted." in gone.content.decode()


def test_page_preview_errors_show_inline(operator_client, lagging):
    _, group = lagging
    page = operator_client.get(
        f"/clusters/kafka/groups/{group}", {"preview": "1", "topic": "bad topic", "to": "latest"}
    )
    assert page.status_code == 200 and b"field: topic" in page.content


def test_group_ids_with_odd_characters(viewer_client, kafka_bootstrap, unique):
    # tansu lists many punctuation characters percent-encoded; these it keeps.
    topic, group = f"{unique}.t", f"{unique} a&b 'q'+(x)"
    kh.create_topic(kafka_bootstrap, topic)
    kh.commit(kafka_bootstrap, group, {(topic, 0): 0})
    response = viewer_client.get(f"/api/v1/clusters/kafka/groups/{quote(group, safe='')}")
    assert response.status_code == 200, response.json()
    assert response.json()["group"] == group
    html = viewer_client.get("/clusters/kafka/groups", {"q": unique}).content.decode()
    assert group not in html and "a&amp;b &#x27;q&#x27;+(x)" in html
    assert quote(group, safe="") in html
