"""Pure logic of the NATS pages, on recorded server responses: durations, headers,
subject merging and matching, error mapping, the server overview."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from streams.errors import BrokerError, BrokerUnavailable, Conflict, InvalidInput, NotFound, NotSupported
from streams.nats.convert import (
    at_least,
    consumer_summary_from,
    parse_header_block,
    parse_time,
    parse_version,
    rfc3339,
    stored_message_from_direct,
    stored_message_from_msg_get,
    stream_summary_from,
)
from streams.nats.durations import MAX_DURATION, humanize, nanos, parse_duration, seconds
from streams.nats.jetstream import js_error, valid_name
from streams.nats.monitor import pending_level, server_overview
from streams.nats.subjects import (
    SubjectRow,
    from_streams,
    from_subscriptions,
    merge,
    search,
    subject_matches,
    subjects_overlap,
    validate_subject,
)
from streams.nats.types import INDEFINITE_PAUSE, pause_description, pause_until_resumed

# A consumer-info answer from nats-server 2.15 for a paused consumer (trimmed).
PAUSED_CONSUMER = {
    "stream_name": "ORDERS",
    "name": "worker",
    "created": "2026-11-24T20:31:39.80743742Z",
    "config": {
        "durable_name": "worker",
        "deliver_policy": "all",
        "ack_policy": "explicit",
        "ack_wait": 30000000000,
        "filter_subject": "orders.eu",
        "pause_until": "2026-11-24T21:31:39Z",
    },
    "delivered": {"consumer_seq": 4, "stream_seq": 9, "last_active": "2026-11-24T20:32:00.5Z"},
    "ack_floor": {"consumer_seq": 3, "stream_seq": 7},
    "num_ack_pending": 1,
    "num_redelivered": 2,
    "num_waiting": 1,
    "num_pending": 12,
    "paused": True,
    "pause_remaining": 3599500000000,
}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3599500000000, 3599500000000),  # what the server sends
        ("3599500000000", 3599500000000),  # what nats-py's type says it is
        ("59m59.5s", 3599500000000),  # a Go duration string
        ("602µs", 602000),  # Go writes the micro sign
        ("1.5", 1),
        ("-5s", -5_000_000_000),
        (None, None),
        ("", None),
        ("soon", None),
        (True, None),
    ],
)
def test_nanos_accepts_every_form(value, expected):
    assert nanos(value) == expected


def test_pause_remaining_is_the_same_whatever_its_type():
    as_int = consumer_summary_from(PAUSED_CONSUMER)
    as_str = consumer_summary_from({**PAUSED_CONSUMER, "pause_remaining": "3599500000000"})
    as_go = consumer_summary_from({**PAUSED_CONSUMER, "pause_remaining": "59m59.5s"})
    assert as_int.pause_remaining_s == as_str.pause_remaining_s == as_go.pause_remaining_s == pytest.approx(3599.5)
    assert as_int.pause_remaining_text == "59m 59s"
    assert as_int.pause_until == datetime(2026, 11, 24, 21, 31, 39, tzinfo=UTC)
    assert not as_int.until_resumed


def test_consumer_summary_fields():
    c = consumer_summary_from(PAUSED_CONSUMER)
    assert (c.stream, c.name, c.durable, c.push) == ("ORDERS", "worker", True, False)
    assert c.filter_subjects == ("orders.eu",)
    assert (c.lag, c.num_ack_pending, c.num_redelivered, c.num_waiting) == (12, 1, 2, 1)
    assert (c.delivered_stream_seq, c.ack_floor_stream_seq) == (9, 7)
    api = c.as_api(with_config=True)
    assert api["lag"] == 12 and api["pause_remaining_s"] == 3599.5 and api["config"]["ack_wait"] == 30000000000
    active = consumer_summary_from({**PAUSED_CONSUMER, "paused": False})
    assert active.pause_remaining_s is None and active.pause_until is None
    ephemeral = consumer_summary_from({"name": "e", "config": {"filter_subjects": ["a", "b"]}})
    assert ephemeral.durable is False and ephemeral.filter_subjects == ("a", "b") and ephemeral.num_pending == 0


def test_stream_summary_tolerates_odd_types():
    info = {
        "config": {"name": "S", "subjects": "one.subject", "num_replicas": "3", "mirror": {"name": "ORIGIN"}},
        "state": {"messages": "7", "bytes": None, "first_seq": 1, "last_seq": "x", "last_ts": "0001-01-01T00:00:00Z"},
    }
    s = stream_summary_from(info)
    assert (s.name, s.subjects, s.messages, s.bytes, s.last_seq, s.replicas) == ("S", ("one.subject",), 7, 0, 0, 3)
    assert s.mirror == "ORIGIN" and s.last_ts is None
    assert stream_summary_from({}).name == ""


def test_durations_typed_by_people():
    assert parse_duration("10m") == timedelta(minutes=10)
    assert parse_duration("1h30m") == timedelta(hours=1, minutes=30)
    assert parse_duration(" 2d ") == timedelta(days=2)
    assert parse_duration("90") == timedelta(seconds=90)
    for bad in ("", "0s", "ten minutes", "5q", "-3m", "1h 30x"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    assert parse_duration("36525d") == MAX_DURATION
    for too_long in ("36526d", "999999999999999999w", "9" * 400 + "s", "9" * 400 + ".5h", "99999999999999999999"):
        with pytest.raises(ValueError):
            parse_duration(too_long)
    assert humanize(None) == "—" and humanize(45) == "45s" and humanize(3725) == "1h 2m"
    assert humanize(2 * 86400 + 3600) == "2d 1h" and humanize(400 * 86400) == "1y 35d"
    assert seconds("1500ms") == 1.5


def test_times_and_versions():
    assert parse_time("2026-11-24T20:31:39.601406147Z") == datetime(2026, 11, 24, 20, 31, 39, 601406, tzinfo=UTC)
    assert parse_time("0001-01-01T00:00:00Z") is None and parse_time("garbage") is None and parse_time(5) is None
    assert rfc3339(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05.000000Z"
    assert parse_version("2.11.0-RC.1") == (2, 11, 0) and parse_version("v2.10") == (2, 10, 0)
    assert parse_version("nightly") is None
    assert at_least("2.15.1", (2, 11, 0)) and not at_least("2.10.22", (2, 11, 0)) and not at_least(None, (2, 11, 0))


def test_header_block_keeps_repeats_and_order():
    raw = b"NATS/1.0\r\nTrace: a\r\nX-Id: 7\r\nTrace: b\r\nbroken line\r\nEmpty:\r\n\r\n"
    assert parse_header_block(raw) == [("Trace", b"a"), ("X-Id", b"7"), ("Trace", b"b"), ("Empty", b"")]
    assert parse_header_block(b"") == []
    message = stored_message_from_msg_get(
        {
            "subject": "s.1",
            "seq": 3,
            "time": "2026-11-24T20:31:39Z",
            "data": base64.b64encode(b"\xff\x00").decode(),
            "hdrs": base64.b64encode(raw).decode(),
        }
    )
    api = message.as_api()
    assert api["value"] == {"text": None, "base64": "/wA="} and api["truncated"] is False
    assert api["headers"][0] == ["Trace", {"text": "a", "base64": "YQ=="}]


def test_direct_get_meta_headers_are_not_message_headers():
    headers = {
        "X-A": "1",
        "Nats-Stream": "S",
        "Nats-Subject": "s.1",
        "Nats-Sequence": "42",
        "Nats-Time-Stamp": "2026-11-24T20:31:39.601406147Z",
        "Nats-Num-Pending": "9",
        "Nats-Last-Sequence": "41",
        "Nats-Msg-Id": "dedupe-1",
    }
    message = stored_message_from_direct(headers, b"hello", limit=3)
    assert (message.seq, message.subject) == (42, "s.1")
    assert [name for name, _ in message.headers] == ["X-A", "Nats-Msg-Id"]
    assert message.truncated and message.value.text == "hel" and message.value.size == 5


def test_subject_matching_and_validation():
    assert subject_matches("orders.*", "orders.eu")
    assert not subject_matches("orders.*", "orders.eu.1")
    assert subject_matches("orders.>", "orders.eu.1") and not subject_matches("orders.>", "orders")
    assert subject_matches("a.*.c", "a.b.c") and not subject_matches("a.*.c", "a.b.d")
    assert validate_subject("orders.>") is None and validate_subject("a.*.c") is None
    for bad in ("", "a..b", ".a", "a.", "a b", "a.>.b", "a*.b", "x" * 2000):
        assert validate_subject(bad), bad
    assert validate_subject("a.*", wildcards=False)


def test_subject_patterns_overlap():
    assert subjects_overlap("orders.*", "orders.>") and subjects_overlap("orders.eu", "*.eu")
    assert subjects_overlap(">", "a.b.c") and subjects_overlap("a.*.c", "a.b.*")
    assert not subjects_overlap("orders.*", "users.>") and not subjects_overlap("a.b", "a.b.c")
    assert not subjects_overlap("a.*", "a") and not subjects_overlap("a.>", "a")


def test_subscriptions_group_by_subject_and_hide_internal():
    subsz = [
        {"subject": "orders.*", "msgs": 3, "qgroup": "workers", "cid": 1},
        {"subject": "orders.*", "msgs": 2, "qgroup": "workers", "cid": 2},
        {"subject": "orders.*", "msgs": 1, "cid": 3},
        {"subject": "$SYS.REQ.USER.INFO", "msgs": 0},
        {"subject": "_INBOX.abc.*", "msgs": 9},
        {"subject": ""},
        "not a dict",
    ]
    rows, hidden = from_subscriptions(subsz)
    assert hidden == 2
    assert rows == [SubjectRow("orders.*", "subscription", 6, subscribers=3, queue_groups=("workers",))]
    everything, none_hidden = from_subscriptions(subsz, include_internal=True)
    assert none_hidden == 0 and len(everything) == 3


def test_merge_and_search_say_where_each_row_came_from():
    subs, _ = from_subscriptions([{"subject": "orders.*", "msgs": 4}])
    stored = from_streams({"ORDERS": {"orders.eu": 10, "orders.us": 5}, "USERS": {"users.new": 1}})
    rows = merge(subs, stored)
    assert [(r.subject, r.source) for r in rows] == [
        ("orders.*", "subscription"),
        ("orders.eu", "stream"),
        ("orders.us", "stream"),
        ("users.new", "stream"),
    ]
    assert [r.subject for r in search(rows, "US")] == ["orders.us", "users.new"]
    # a literal query also finds the wildcard subscriptions that would receive it
    assert [(r.subject, r.source) for r in search(rows, "orders.eu")] == [
        ("orders.*", "subscription"),
        ("orders.eu", "stream"),
    ]
    assert [r.subject for r in search(rows, "orders.>")] == ["orders.*", "orders.eu", "orders.us"]
    assert search(rows, "  ") == rows


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ({"code": 404, "err_code": 10059, "description": "stream not found"}, NotFound),
        ({"code": 404, "err_code": 10014, "description": "consumer not found"}, NotFound),
        ({"code": 404, "err_code": 10037, "description": "no message found"}, NotFound),
        ({"code": 400, "err_code": 10043, "description": "sequence 1 not found"}, NotFound),
        ({"code": 503, "err_code": 10039, "description": "jetstream not enabled for account"}, NotSupported),
        ({"code": 400, "err_code": 10058, "description": "stream name already in use"}, Conflict),
        ({"code": 400, "err_code": 10999, "description": "bad request"}, InvalidInput),
        ({"code": 503, "err_code": 10008, "description": "jetstream temporarily unavailable"}, BrokerUnavailable),
        ({"code": 500, "err_code": 10049, "description": "boom"}, BrokerError),
        ("not an object", BrokerError),
    ],
)
def test_jetstream_errors_become_typed_errors(error, kind):
    result = js_error(error, "Stream 'X'")
    assert type(result) is kind
    assert result.message.startswith("Stream 'X'")


def test_names_that_cannot_be_subject_tokens_are_refused():
    assert valid_name("ORDERS") and valid_name("orders-v2_x") and valid_name("a#b")
    for bad in ("", "a.b", "a*", "a>", "a b", "a/b", "a\\b", "tab\there", "x" * 256):
        assert not valid_name(bad), bad


VARZ = {
    "version": "2.15.1",
    "server_name": "n1",
    "server_id": "NID",
    "connections": 3,
    "total_connections": 9,
    "subscriptions": 74,
    "slow_consumers": 1,
    "in_msgs": 47,
    "out_msgs": 38,
    "in_bytes": 907,
    "out_bytes": 10545,
    "max_payload": 1048576,
    "max_pending": 67108864,
    "uptime": "1h2m",
    "start": "2026-11-24T20:31:39.548202615Z",
    "jetstream": {"config": {"max_memory": 1000, "max_storage": 5000}},
}
JSZ = {"streams": 2, "consumers": 1, "messages": 17, "bytes": 374, "memory": 374, "storage": 0, "accounts": 1,
       "config": {"max_memory": 1000, "max_storage": 5000}}  # fmt: skip
ACCOUNT = {
    "memory": 469,
    "storage": 10,
    "streams": 2,
    "consumers": 1,
    "limits": {"max_memory": -1, "max_storage": 2000, "max_streams": -1, "max_consumers": 50},
    "api": {"total": 12, "errors": 3},
}


def test_server_overview_with_monitoring():
    data = server_overview({"version": "2.15.1", "jetstream": True}, ACCOUNT, VARZ, JSZ)
    assert (data["version"], data["jetstream"], data["connections"], data["subscriptions"]) == ("2.15.1", True, 3, 74)
    assert (data["in_msgs"], data["out_msgs"], data["in_bytes"], data["out_bytes"]) == (47, 38, 907, 10545)
    account = data["account"]
    # the account's own limit where it has one, the server's where it has none (-1)
    assert account["max_storage"] == 2000 and account["max_memory"] == 1000
    assert account["max_streams"] is None and account["max_consumers"] == 50
    assert data["jetstream_server"]["messages"] == 17 and data["start"].year == 2026


def test_server_overview_without_monitoring_or_jetstream():
    plain = server_overview({"version": "2.15.1", "jetstream": True, "server_name": "n1"}, ACCOUNT, None, None)
    assert plain["connections"] is None and plain["in_bytes"] is None and plain["jetstream_server"] is None
    assert plain["account"]["max_memory"] is None and plain["server_name"] == "n1"
    off = server_overview({"version": "2.9.0", "jetstream": False}, None, None, None)
    assert off["jetstream"] is False and off["account"] is None


def test_pending_bytes_levels():
    assert pending_level(0, 64) == "ok"
    assert pending_level(10, 64) == "warn"
    assert pending_level(32, 64) == "down"
    assert pending_level(10, None) == "warn"


def test_header_names_are_capped_like_every_other_header():
    long_name = "X-" + "n" * 1000
    raw = f"NATS/1.0\r\n{long_name}: v\r\n\r\n".encode()
    stored = stored_message_from_msg_get({"seq": 1, "hdrs": base64.b64encode(raw).decode()})
    direct = stored_message_from_direct({"Nats-Sequence": "1", long_name: "v"}, b"")
    for message in (stored, direct):
        ((name, value),) = message.headers
        assert name == long_name[:256] and value.text == "v"


def test_pause_descriptions():
    assert pause_description(None) == ""
    assert pause_description(599.5) == "for 9m 59s"
    assert pause_description(INDEFINITE_PAUSE.total_seconds() - 60) == "until resumed"
    assert pause_until_resumed(INDEFINITE_PAUSE.total_seconds() * 0.6)
    assert not pause_until_resumed(10 * 365 * 86400) and not pause_until_resumed(None)


def test_subject_pages_read_names_off_the_answer_one_at_a_time():
    from streams.nats.subject_pages import Answer

    names = ["$KV.b.a", '$KV.b.q"uote', "$KV.b.<x>&", "$KV.b.snow\u2603", "$KV.b.back\\slash"]
    # Laid out as nats-server writes it: the paging fields first, the config's subjects an array.
    subjects = json.dumps({n: 1 for n in names}, separators=(",", ":"), ensure_ascii=False)
    subjects = subjects.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    raw = (
        '{"type":"io.nats.jetstream.api.v1.stream_info_response","total":5,"offset":0,"limit":100000,'
        '"config":{"name":"KV_b","subjects":["$KV.b.\\u003e"],"description":"\\"subjects\\":{\\"x\\":1}"},'
        f'"state":{{"messages":5,"subjects":{subjects},"num_subjects":5}}}}'
    ).encode()
    answer = Answer(raw, "Bucket")
    assert answer.start is not None and (answer.total, answer.offset, answer.limit) == (5, 0, 100_000)
    assert list(answer.names()) == names
    assert list(answer.holding("uote")) == [None, '$KV.b.q"uote', None, None, None]
    assert list(answer.holding("<x")) == [None, None, "$KV.b.<x>&", None, None]
    assert list(answer.holding("\u2603")) == [None, None, None, "$KV.b.snow\u2603", None]
    assert list(answer.holding("u003c")) == [None] * 5, "an escape in the text is not a match"
    # Another layout is parsed whole, and sorted; an error is a typed error.
    other = Answer(json.dumps({"state": {"subjects": {"b": 1, "a": 2}}, "total": 2}).encode(), "Bucket")
    assert other.start is None and list(other.names()) == ["a", "b"] and other.total == 2
    empty = b'{"type":"io.nats.jetstream.api.v1.stream_info_response","total":0,"offset":0,"limit":0,"config":{}}'
    assert list(Answer(empty, "Bucket").names()) == []
    with pytest.raises(NotFound):
        Answer(b'{"type":"x","error":{"code":404,"err_code":10059,"description":"stream not found"}}', "Bucket")
