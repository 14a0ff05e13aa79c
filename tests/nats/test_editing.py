"""Creating and editing streams and consumers, read back with an independent nats-py client."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from nats.aio.client import Client as Nats

from streams.models import AuditEvent
from streams.nats.editing import consumer_config, field_of, stream_config
from tests.nats import helpers as h

API = "/api/v1/clusters/nats/streams"
NS = 1_000_000_000


@pytest.fixture
def viewer_only(viewer) -> Client:
    other = Client()
    other.force_login(viewer)
    return other


def _v(value: Any) -> Any:
    return getattr(value, "value", value)


def _stream_info(url: str, name: str) -> Any:
    async def work(nc: Nats) -> Any:
        return await nc.jetstream().stream_info(name)

    return h.run(url, work)


def _consumer_info(url: str, stream: str, name: str) -> Any:
    async def work(nc: Nats) -> Any:
        return await nc.jetstream().consumer_info(stream, name)

    return h.run(url, work)


def _create(client: Client, unique: str, **extra: Any) -> Any:
    body = {
        "name": unique,
        "subjects": [f"{unique}.>"],
        "retention": "limits",
        "storage": "memory",
        "max_msgs": 1000,
        "max_bytes": 1_000_000,
        "max_age": 3600 * NS,
        "num_replicas": 1,
        "discard": "new",
        "duplicate_window": 60 * NS,
        **extra,
    }
    return client.post(API, body, content_type="application/json")


def test_create_stream_read_back_independently_and_audited(operator_client: Client, url, unique):
    created = _create(operator_client, unique)
    assert created.status_code == 201, created.content
    assert created.json()["config"]["name"] == unique
    info = _stream_info(url, unique)
    config = info.config
    assert config.subjects == [f"{unique}.>"]
    assert _v(config.storage) == "memory"
    assert _v(config.retention) == "limits"
    assert _v(config.discard) == "new"
    assert (config.max_msgs, config.max_bytes, config.num_replicas) == (1000, 1_000_000, 1)
    assert config.max_age == 3600
    assert config.duplicate_window == 60
    assert config.allow_direct is True
    assert AuditEvent.objects.filter(action="nats.stream.create", target=unique, result="ok").exists()


def test_edit_an_editable_field_keeps_the_rest(operator_client: Client, url, unique):
    assert _create(operator_client, unique).status_code == 201
    edited = operator_client.put(
        f"{API}/{unique}", {"max_msgs": 50, "subjects": [f"{unique}.>", f"{unique}-x"]}, content_type="application/json"
    )
    assert edited.status_code == 200, edited.content
    config = _stream_info(url, unique).config
    assert config.max_msgs == 50
    assert config.subjects == [f"{unique}.>", f"{unique}-x"]
    assert config.max_bytes == 1_000_000
    assert _v(config.storage) == "memory"
    assert AuditEvent.objects.filter(action="nats.stream.update", target=unique, result="ok").exists()


def test_changing_storage_is_refused_naming_the_field(operator_client: Client, url, unique):
    assert _create(operator_client, unique).status_code == 201
    refused = operator_client.put(f"{API}/{unique}", {"storage": "file"}, content_type="application/json")
    assert refused.status_code == 400, refused.content
    assert refused.json()["field"] == "storage"
    assert AuditEvent.objects.filter(action="nats.stream.update", target=unique, result="error").exists()
    assert _v(_stream_info(url, unique).config.storage) == "memory"


def test_server_refusal_on_create_names_the_field(operator_client: Client, url, unique):
    assert _create(operator_client, unique).status_code == 201
    # The same subjects as an existing stream: the server refuses the overlap.
    clash = _create(operator_client, unique + "-b", subjects=[f"{unique}.>"])
    assert clash.status_code == 400, clash.content
    assert clash.json()["field"] == "subjects"
    bad = operator_client.post(API, {"name": "a.b"}, content_type="application/json")
    assert (bad.status_code, bad.json()["field"]) == (400, "name")
    wrong = _create(operator_client, unique + "-c", retention="sometimes")
    assert (wrong.status_code, wrong.json()["field"]) == (400, "retention")


def test_viewer_and_read_only_mode_are_refused(operator_client: Client, viewer_only: Client, settings, url, unique):
    assert _create(viewer_only, unique).status_code == 403
    assert AuditEvent.objects.filter(action="nats.stream.create", result="denied").exists()
    assert _create(operator_client, unique).status_code == 201
    consumer = {"durable_name": "w", "filter_subjects": [f"{unique}.a"]}
    assert viewer_only.post(f"{API}/{unique}/consumers", consumer, content_type="application/json").status_code == 403
    assert viewer_only.put(f"{API}/{unique}", {"max_msgs": 5}, content_type="application/json").status_code == 403
    settings.READ_ONLY = True
    assert _create(operator_client, unique + "-b").status_code == 403
    assert operator_client.put(f"{API}/{unique}", {"max_msgs": 5}, content_type="application/json").status_code == 403
    assert operator_client.delete(f"{API}/{unique}/consumers/w").status_code == 403
    assert _stream_info(url, unique).config.max_msgs == 1000


def test_consumer_create_edit_delete(operator_client: Client, url, unique):
    assert _create(operator_client, unique).status_code == 201
    body = {
        "durable_name": "worker",
        "filter_subjects": [f"{unique}.a", f"{unique}.b"],
        "deliver_policy": "new",
        "ack_policy": "explicit",
        "max_deliver": 5,
        "backoff": [NS, 5 * NS],
        "ack_wait": 30 * NS,
    }
    created = operator_client.post(f"{API}/{unique}/consumers", body, content_type="application/json")
    assert created.status_code == 201, created.content
    assert created.json()["name"] == "worker"
    config = _consumer_info(url, unique, "worker").config
    assert config.durable_name == "worker"
    assert config.filter_subjects == [f"{unique}.a", f"{unique}.b"]
    assert _v(config.deliver_policy) == "new"
    assert _v(config.ack_policy) == "explicit"
    assert config.max_deliver == 5
    assert config.backoff == [1.0, 5.0]
    # Creating it again with another config is refused: it exists.
    again = operator_client.post(
        f"{API}/{unique}/consumers", {**body, "max_deliver": 6}, content_type="application/json"
    )
    assert again.status_code == 409, again.content

    edited = operator_client.put(
        f"{API}/{unique}/consumers/worker",
        {"max_deliver": 9, "backoff": ["2s", "10s"]},
        content_type="application/json",
    )
    assert edited.status_code == 200, edited.content
    config = _consumer_info(url, unique, "worker").config
    assert (config.max_deliver, config.backoff) == (9, [2.0, 10.0])
    assert config.filter_subjects == [f"{unique}.a", f"{unique}.b"]

    # deliver_policy cannot change on an existing consumer: a 400 naming it.
    refused = operator_client.put(
        f"{API}/{unique}/consumers/worker", {"deliver_policy": "all"}, content_type="application/json"
    )
    assert refused.status_code == 400, refused.content
    assert refused.json()["field"] == "deliver_policy"
    # The server's own check: backoff needs max_deliver larger than its steps.
    short = operator_client.put(
        f"{API}/{unique}/consumers/worker",
        {"max_deliver": 2, "backoff": ["1s", "2s", "3s"]},
        content_type="application/json",
    )
    assert short.status_code == 400, short.content
    assert short.json()["field"] in ("backoff", "max_deliver")

    deleted = operator_client.delete(f"{API}/{unique}/consumers/worker")
    assert deleted.status_code == 200, deleted.content
    assert operator_client.get(f"{API}/{unique}/consumers/worker").status_code == 404
    for action in ("nats.consumer.create", "nats.consumer.update", "nats.consumer.delete"):
        assert AuditEvent.objects.filter(action=action, target=f"{unique}/worker").exists(), action


def test_stream_and_consumer_forms(operator_client: Client, url, unique):
    form = {
        "name": unique,
        "subjects": f"{unique}.a, {unique}.b",
        "storage": "memory",
        "max_age": "1h",
        "duplicate_window": "2m",
        "discard": "old",
        "retention": "limits",
    }
    listing = operator_client.get("/clusters/nats/streams")
    assert b"/clusters/nats/streams/create" in listing.content
    done = operator_client.post("/clusters/nats/streams/create", form)
    assert done.status_code == 302, done.content
    config = _stream_info(url, unique).config
    assert (config.subjects, config.max_age, config.duplicate_window) == ([f"{unique}.a", f"{unique}.b"], 3600, 120)
    page = operator_client.get(f"/clusters/nats/streams/{unique}")
    assert f"/streams/{unique}/edit".encode() in page.content
    assert b'name="max_age" value="3600s"' in page.content
    operator_client.post(f"/clusters/nats/streams/{unique}/edit", {"max_msgs": "7"})
    assert _stream_info(url, unique).config.max_msgs == 7
    refused = operator_client.post(f"/clusters/nats/streams/{unique}/edit", {"storage": "file"}, follow=True)
    # The server's own words, on the page the form came from.
    assert b"change storage type" in refused.content, refused.content.decode()[-3000:]
    consumers_page = operator_client.get(f"/clusters/nats/streams/{unique}/consumers")
    assert f"/streams/{unique}/consumers/create".encode() in consumers_page.content
    made = operator_client.post(
        f"/clusters/nats/streams/{unique}/consumers/create",
        {"durable_name": "c1", "filter_subjects": f"{unique}.a", "ack_policy": "explicit", "backoff": "1s 3s"},
    )
    assert made.status_code == 302
    assert _consumer_info(url, unique, "c1").config.backoff == [1.0, 3.0]
    page = operator_client.get(f"/clusters/nats/streams/{unique}/consumers/c1")
    assert b'value="1s 3s"' in page.content
    operator_client.post(f"/clusters/nats/streams/{unique}/consumers/c1/edit", {"max_deliver": "4", "backoff": "1s 3s"})
    assert _consumer_info(url, unique, "c1").config.max_deliver == 4
    gone = operator_client.post(f"/clusters/nats/streams/{unique}/consumers/c1/delete", {"confirm": "c1"})
    assert gone.status_code == 302
    assert operator_client.get(f"{API}/{unique}/consumers/c1").status_code == 404


def test_config_parsing_units():
    config = stream_config({"name": "s", "max_age": "90s", "allow_direct": "on", "subjects": "a b,c"})
    assert (config["max_age"], config["allow_direct"], config["subjects"]) == (90 * NS, True, ["a", "b", "c"])
    with pytest.raises(Exception) as exc:
        stream_config({"name": "s", "max_msgs": "lots"})
    assert getattr(exc.value, "field", None) == "max_msgs"
    with pytest.raises(Exception) as exc:
        stream_config({"name": "other"}, name="s")
    assert getattr(exc.value, "field", None) == "name"
    assert consumer_config({"durable_name": "d", "filter_subject": "x.y"})["filter_subjects"] == ["x.y"]
    assert field_of("stream configuration update can not change storage type") == "storage"
    assert field_of("consumer deliver policy can not be updated") == "deliver_policy"
    assert field_of("max deliver is required to be > length of backoff values") == "max_deliver"


def test_more_server_refusals_name_their_field(operator_client: Client, url, unique):
    missing = operator_client.put(f"{API}/{unique}-none", {"max_msgs": 1}, content_type="application/json")
    assert missing.status_code == 404
    absent = operator_client.put(f"{API}/{unique}-none/consumers/x", {}, content_type="application/json")
    assert absent.status_code == 404
    assert _create(operator_client, unique).status_code == 201
    for change, field in (({"num_replicas": 3}, "num_replicas"), ({"retention": "workqueue"}, "retention")):
        refused = operator_client.put(f"{API}/{unique}", change, content_type="application/json")
        assert refused.status_code == 400, refused.content
        assert refused.json()["field"] == field, refused.json()
    replicas = _create(operator_client, unique + "-r", num_replicas=3)
    assert (replicas.status_code, replicas.json()["field"]) == (400, "num_replicas"), replicas.content
    window = _create(operator_client, unique + "-w", duplicate_window=7200 * NS, max_age=60 * NS)
    assert (window.status_code, window.json()["field"]) == (400, "duplicate_window"), window.content


def test_bad_input_is_a_400_naming_the_field(operator_client: Client, unique):
    cases = [
        ({"name": 7}, "name"),
        ({"name": unique, "subjects": f"{unique}-one"}, None),
        ({"name": unique, "subjects": [5]}, "subjects"),
        ({"name": unique, "subjects": ["a..b"]}, "subjects"),
        ({"name": unique, "max_msgs": "lots"}, "max_msgs"),
        ({"name": unique, "max_msgs": True}, "max_msgs"),
        ({"name": unique, "max_age": 10**30}, "max_age"),
        ({"name": unique, "storage": ["file"]}, "storage"),
        ({"name": unique, "allow_direct": "perhaps"}, "allow_direct"),
    ]
    for body, field in cases:
        response = operator_client.post(API, body, content_type="application/json")
        if field is None:
            # One subject given as a string is read as that subject: created.
            assert response.status_code == 201, response.content
            continue
        assert response.status_code == 400, (body, response.content)
        assert response.json()["field"] == field, (body, response.json())
    consumers = f"{API}/{unique}/consumers"
    for body, field in (
        ({"durable_name": "a.b"}, "durable_name"),
        ({"durable_name": "d", "backoff": [0]}, "backoff"),
        ({"durable_name": "d", "backoff": "soon"}, "backoff"),
        ({"durable_name": "d", "ack_policy": "sometimes"}, "ack_policy"),
        ({"durable_name": "d", "filter_subjects": ["a b"]}, "filter_subjects"),
    ):
        response = operator_client.post(consumers, body, content_type="application/json")
        assert response.status_code == 400, (body, response.content)
        assert response.json()["field"] == field, (body, response.json())
    listed = operator_client.post(API, "[1]", content_type="application/json")
    assert listed.status_code == 400 and listed["Content-Type"].startswith("application/json")


def test_what_get_answers_can_be_put_back_unchanged(operator_client: Client, url, unique):
    """The round trip a script makes: read a config, change one field, send the whole thing back."""
    assert _create(operator_client, unique).status_code == 201
    read = operator_client.get(f"{API}/{unique}").json()["config"]
    same = operator_client.put(f"{API}/{unique}", read, content_type="application/json")
    assert same.status_code == 200, same.content
    assert same.json()["config"] == read
    changed = operator_client.put(f"{API}/{unique}", {**read, "max_msgs": 77}, content_type="application/json")
    assert changed.status_code == 200, changed.content
    assert _stream_info(url, unique).config.max_msgs == 77
    body = {"durable_name": "rt", "filter_subjects": [f"{unique}.a"], "ack_policy": "explicit", "max_deliver": 3}
    assert operator_client.post(f"{API}/{unique}/consumers", body, content_type="application/json").status_code == 201
    config = operator_client.get(f"{API}/{unique}/consumers/rt").json()["config"]
    back = operator_client.put(f"{API}/{unique}/consumers/rt", config, content_type="application/json")
    assert back.status_code == 200, back.content
    more = operator_client.put(
        f"{API}/{unique}/consumers/rt", {**config, "max_deliver": 8}, content_type="application/json"
    )
    assert more.status_code == 200, more.content
    info = _consumer_info(url, unique, "rt").config
    assert (info.max_deliver, info.filter_subjects) == (8, [f"{unique}.a"])
