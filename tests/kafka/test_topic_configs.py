"""A topic's configs: shown set-values-first, changed by incremental alter after a dry run."""

from __future__ import annotations

from concurrent.futures import Future

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import ConfigEntry, ConfigResource, ConfigSource, ResourceType

from streams.clusters import ClusterConfig
from streams.errors import InvalidInput
from streams.kafka.adapter import KafkaAdapter
from streams.kafka.configs import ConfigChange, alter_topic_configs, named_in
from streams.kafka.convert import configs_from
from streams.models import AuditEvent
from tests.kafka import helpers as kh


def patch(client, topic, body, dry_run=None):
    query = "" if dry_run is None else f"?dry_run={dry_run}"
    return client.patch(f"/api/v1/clusters/kafka/topics/{topic}/configs{query}", body, content_type="application/json")


def test_sources_come_as_numbers_from_the_client_and_are_named():
    entries = {
        "a": ConfigEntry("a", "1", source=4),  # type: ignore[arg-type]  # what librdkafka hands over
        "b": ConfigEntry("b", "2", source=ConfigSource.DYNAMIC_TOPIC_CONFIG),
        "c": ConfigEntry("c", "3", source=99),  # type: ignore[arg-type]
    }
    assert [c.source for c in configs_from(entries)] == ["static_broker", "dynamic_topic", "unknown"]


def test_a_refusal_names_the_config_it_is_about():
    names = ["retention.ms", "local.retention.ms", "segment.ms"]
    assert named_in("Invalid value x for configuration local.retention.ms: Not a number", names) == (
        "local.retention.ms"
    )
    assert named_in("Invalid value x for configuration retention.ms: Not a number", names) == "retention.ms"
    assert named_in("Unknown topic config name: segment.ms", names) == "segment.ms"
    assert named_in("something else", names) is None


def test_detail_lists_set_configs_first_then_the_defaults(viewer_client, kafka_bootstrap, kafka_broker, unique):
    kh.create_topic(kafka_bootstrap, unique)
    body = viewer_client.get(f"/api/v1/clusters/kafka/topics/{unique}").json()
    alone = viewer_client.get(f"/api/v1/clusters/kafka/topics/{unique}/configs").json()
    assert (alone["configs"], alone["config_details"]) == (body["configs"], body["config_details"])
    assert viewer_client.get(f"/clusters/kafka/topics/{unique}/configs").status_code == 200
    if kafka_broker == "tansu":
        assert body["configs"] is None and body["config_details"] == []
        return
    if kafka_broker != "apache":
        return
    details = body["config_details"]
    defaults = [c["default"] for c in details]
    assert defaults == sorted(defaults) and True in defaults
    assert list(body["configs"]) == [c["name"] for c in details]
    for c in details:
        assert set(c) == {"name", "value", "source", "default", "sensitive", "read_only"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "set"),
        ({"set": {}, "delete": []}, "set"),
        ({"set": {"Bad Name": "1"}}, "set"),
        ({"set": {"retention.ms": ["1"]}}, "set"),
        ({"delete": "retention.ms"}, "delete"),
        ({"delete": [7]}, "delete"),
        ({"set": {"retention.ms": "1"}, "delete": ["retention.ms"]}, "retention.ms"),
    ],
)
def test_bad_changes_are_400_naming_the_field(operator_client, kafka_bootstrap, unique, body, field):
    kh.create_topic(kafka_bootstrap, unique)
    response = patch(operator_client, unique, body, dry_run="true")
    assert response.status_code == 400, response.content
    assert response.json()["field"] == field


def test_bad_dry_run_flag_and_unknown_topic(operator_client, unique):
    bad = patch(operator_client, unique, {"set": {"retention.ms": "1"}}, dry_run="maybe")
    assert bad.status_code == 400 and bad.json()["field"] == "dry_run"
    assert patch(operator_client, unique, {"set": {"retention.ms": "1"}}).status_code == 404


def test_viewer_cannot_change_configs(viewer_client, kafka_bootstrap, unique):
    kh.create_topic(kafka_bootstrap, unique)
    assert patch(viewer_client, unique, {"set": {"retention.ms": "1"}}).status_code == 403
    assert AuditEvent.objects.get(action="kafka.topic.alter_configs").result == "denied"


def test_dry_run_validates_then_apply_changes_then_delete_restores(
    operator_client, kafka_bootstrap, kafka_broker, unique
):
    kh.create_topic(kafka_bootstrap, unique)
    dry = patch(operator_client, unique, {"set": {"retention.ms": "1234567"}}, dry_run="true")
    if kafka_broker == "tansu":  # DescribeConfigs answers nothing: the change is not offered
        assert dry.status_code == 501 and "not supported by this broker" in dry.json()["error"]
        assert AuditEvent.objects.get(action="kafka.topic.alter_configs").result == "error"
        return
    if kafka_broker != "apache":
        return
    assert dry.status_code == 200, dry.content
    body = dry.json()
    assert body["dry_run"] is True and body["configs"]["retention.ms"] == "604800000"
    assert set(body) >= {"configs", "config_details", "dry_run"}

    applied = patch(operator_client, unique, {"set": {"retention.ms": "1234567", "segment.ms": "7200000"}}, "false")
    assert applied.status_code == 200, applied.content
    body = applied.json()
    assert body["dry_run"] is False
    assert body["configs"]["retention.ms"] == "1234567" and body["configs"]["segment.ms"] == "7200000"
    details = body["config_details"]
    set_here = [c for c in details if c["source"] == "dynamic_topic"]
    assert {c["name"] for c in set_here} == {"retention.ms", "segment.ms"}
    assert not any(c["default"] for c in set_here)
    first_default = next(i for i, c in enumerate(details) if c["default"])
    assert all(details.index(c) < first_default for c in set_here)
    admin = kh.admin(kafka_bootstrap)  # kept referenced: a collected client cancels its futures
    entries = admin.describe_configs([ConfigResource(ResourceType.TOPIC, unique)])
    assert next(iter(entries.values())).result(10)["retention.ms"].value == "1234567"

    restored = patch(operator_client, unique, {"delete": ["retention.ms"]})
    assert restored.status_code == 200, restored.content
    retention = next(c for c in restored.json()["config_details"] if c["name"] == "retention.ms")
    assert retention["default"] and retention["value"] == "604800000"
    events = list(AuditEvent.objects.filter(action="kafka.topic.alter_configs", target=unique).order_by("id"))
    assert [(e.result, e.params["dry_run"]) for e in events] == [("ok", True), ("ok", False), ("ok", False)]
    assert events[1].params["set"] == {"retention.ms": "1234567", "segment.ms": "7200000"}
    assert events[2].params["delete"] == ["retention.ms"]


@pytest.mark.parametrize("dry_run", ["true", "false"])
def test_a_value_the_broker_refuses_is_400_naming_that_config(
    operator_client, kafka_bootstrap, kafka_broker, unique, dry_run
):
    if kafka_broker != "apache":
        return
    kh.create_topic(kafka_bootstrap, unique)
    bad = patch(operator_client, unique, {"set": {"segment.ms": "7200000", "retention.ms": "soon"}}, dry_run)
    assert bad.status_code == 400, bad.content
    assert bad.json()["field"] == "retention.ms" and "soon" in bad.json()["error"]
    unknown = patch(operator_client, unique, {"set": {"segment.ms": "7200000", "no.such.config": "1"}}, dry_run)
    assert unknown.status_code == 400 and unknown.json()["field"] == "no.such.config"
    # Refused as a whole: the good entry was not applied either.
    configs = operator_client.get(f"/api/v1/clusters/kafka/topics/{unique}").json()["configs"]
    assert configs["segment.ms"] == "604800000"
    assert AuditEvent.objects.filter(action="kafka.topic.alter_configs", result="error").count() == 2


def test_page_shows_the_dry_run_then_applies(operator_client, kafka_bootstrap, kafka_broker, unique):
    kh.create_topic(kafka_bootstrap, unique)
    page = operator_client.get(f"/clusters/kafka/topics/{unique}").content.decode()
    if kafka_broker == "tansu":
        assert "not supported by this broker" in page and "Change configs" not in page
        return
    if kafka_broker != "apache":
        return
    assert "Change configs" in page and '<details class="defaults">' in page
    url = f"/clusters/kafka/topics/{unique}/configs"
    htmx = {"HX-Request": "true"}
    checked = operator_client.post(url, {"set": "retention.ms=3600000\n", "dry_run": "true"}, headers=htmx)
    html = checked.content.decode()
    assert checked.status_code == 200 and "<html" not in html
    assert 'data-outcome="dry-run"' in html and "nothing is applied yet" in html
    assert 'data-change="retention.ms"' in html and "604800000" in html and "Apply these changes" in html
    assert operator_client.get(f"/api/v1/clusters/kafka/topics/{unique}").json()["configs"]["retention.ms"] == (
        "604800000"
    )
    applied = operator_client.post(url, {"set": "retention.ms=3600000\n", "dry_run": "false"}, headers=htmx)
    assert 'data-outcome="applied"' in applied.content.decode()
    assert operator_client.get(f"/api/v1/clusters/kafka/topics/{unique}").json()["configs"]["retention.ms"] == (
        "3600000"
    )
    refused = operator_client.post(url, {"set": "retention.ms=soon", "dry_run": "true"}, headers=htmx)
    assert refused.status_code == 400 and "<code>retention.ms</code>" in refused.content.decode()
    # Without htmx the configs page renders whole, with the answer in it.
    whole = operator_client.post(url, {"delete": "retention.ms", "dry_run": "true"})
    assert whole.status_code == 200 and "<html" in whole.content.decode()
    assert 'data-outcome="dry-run"' in whole.content.decode()


class TerseBroker:
    """Refuses any request holding ``bad`` with a message naming no config, as some brokers do."""

    def __init__(self, bad: str) -> None:
        self.bad = bad
        self.requests: list[tuple[list[str], bool]] = []

    def poll(self, timeout: float = -1) -> int:
        return 0

    def incremental_alter_configs(self, resources, validate_only=False, request_timeout=-1):
        (resource,) = resources
        names = [entry.name for entry in resource.incremental_configs]
        self.requests.append((names, validate_only))
        future: Future[None] = Future()
        if self.bad in names:
            future.set_exception(KafkaException(KafkaError(KafkaError.INVALID_CONFIG, "Invalid value")))
        else:
            future.set_result(None)
        return {resource: future}


async def test_a_refusal_naming_nothing_is_traced_entry_by_entry():
    broker = TerseBroker(bad="segment.ms")
    adapter = KafkaAdapter(ClusterConfig(slug="terse", kind="kafka", name="Terse", servers=("kafka-1:9092",)))
    adapter._admin = broker  # type: ignore[assignment]
    change = ConfigChange(set={"retention.ms": "1", "segment.ms": "x"}, delete=("flush.ms",))
    try:
        with pytest.raises(InvalidInput) as refused:
            await alter_topic_configs(adapter, "orders", change, dry_run=False)
        assert refused.value.field == "segment.ms"
        # The request as asked, then each entry validated alone until the culprit answered.
        assert broker.requests == [
            (["retention.ms", "segment.ms", "flush.ms"], False),
            (["retention.ms"], True),
            (["segment.ms"], True),
        ]
    finally:
        adapter.close()
