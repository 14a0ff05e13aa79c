"""Local schema files: checked when the clusters file is loaded, and decoding unframed payloads by name pattern."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from streams.clusters import ClusterConfig, ClusterConfigError, from_env, from_file
from streams.payloads import Payload
from streams.schemas import registry as registry_module
from streams.schemas.decode import decode, decode_payload
from tests.schemas import localfiles
from tests.schemas.standin import StandinRegistry

KAFKA = '[[clusters]]\nslug = "k"\nkind = "kafka"\nservers = "h:9092"\n'
NATS = '[[clusters]]\nslug = "n"\nkind = "nats"\nservers = "nats://h:4222"\n'


def load(folder: Path, text: str) -> list[ClusterConfig]:
    localfiles.write_files(folder)
    path = folder / "clusters.toml"
    path.write_text(text)
    return from_file(str(path))


def kafka_cluster(folder: Path) -> ClusterConfig:
    (cluster,) = load(folder, KAFKA + localfiles.kafka_decoders_toml())
    return cluster


def shipment_bytes(**fields: object) -> bytes:
    return bytes(localfiles.shipment_class()(**fields).SerializeToString())


def test_avro_protobuf_and_json_schema_decode_by_topic_pattern(tmp_path: Path) -> None:
    cluster = kafka_cluster(tmp_path)
    raw = localfiles.avro_bytes({"sensor": "t-1", "count": 2**60, "at": 1700000000123, "raw": b"\x00\xff"})
    got = decode(cluster, "plant-readings", "value", raw)
    assert got.error is None and got.decoded is not None
    assert got.decoded.as_api() == {
        "format": "avro",
        "schema_id": None,
        "subject": None,
        "version": None,
        "type": "plant.Reading",
        "file": "reading.avsc",
        "data": {"sensor": "t-1", "count": str(2**60), "at": 1700000000123, "raw": "AP8="},
    }
    shipment = localfiles.shipment_class()(shipment_id=2**62, carrier="dhl", state=1)
    shipment.sent_at.seconds = 1700000000
    pb = decode(cluster, "eu-shipments", "value", shipment.SerializeToString())
    assert pb.error is None and pb.decoded is not None
    assert pb.decoded.format == "protobuf" and pb.decoded.type == "ship.Shipment"
    assert pb.decoded.data == {
        "shipment_id": str(2**62),
        "carrier": "dhl",
        "state": "SENT",
        "sent_at": "2023-11-14T22:13:20Z",
    }
    key = decode(cluster, "plant-readings", "key", json.dumps({"id": 4, "tags": ["a"]}).encode())
    assert key.decoded is not None and key.decoded.format == "json-schema" and key.decoded.type == "Ticket"
    assert key.decoded.data == {"id": 4, "tags": ["a"]}
    # No pattern takes these: plain payloads stay as they were.
    assert decode(cluster, "other", "value", raw).as_api() == {"decoded": None, "decode_error": None}
    assert decode(cluster, "eu-shipments", "key", b"k").as_api() == {"decoded": None, "decode_error": None}


def test_poison_payloads_keep_their_raw_view_and_say_why(tmp_path: Path) -> None:
    cluster = kafka_cluster(tmp_path)
    raw = localfiles.avro_bytes({"sensor": "t-1", "count": 1, "at": 1, "raw": b""})
    cut = decode(cluster, "readings", "value", raw[:3])
    assert cut.decoded is None and cut.error and cut.error.startswith("does not decode with reading.avsc (avro)")
    extra = decode(cluster, "readings", "value", raw + b"??")
    assert extra.error == "does not decode with reading.avsc (avro): 2 bytes left over after the record"
    text = decode(cluster, "eu-shipments", "value", b"\xff\xff\xff")
    assert text.decoded is None and "shipment.desc (protobuf)" in (text.error or "")
    bad_key = decode(cluster, "readings-x-readings", "key", b'{"id": "seven", "tags": [1]}')
    assert bad_key.error == (
        "does not decode with ticket.json (json-schema): does not match the JSON Schema at $.id: "
        "'seven' is not of type 'integer'"
    )
    not_json = decode(cluster, "a-readings", "key", b"\x00\x01")
    assert not_json.error == "does not decode with ticket.json (json-schema): is not JSON"
    # A payload cut at the display limit is not decoded, and says so.
    shown = decode_payload(cluster, "readings", "value", Payload.of(raw, limit=4))
    assert shown.decoding is not None and shown.decoding.error == "too large to decode here; show all to decode it"
    assert shown.as_api() is not None and shown.as_api()["base64"]  # type: ignore[index]


def test_nats_subject_patterns_use_nats_wildcards(tmp_path: Path) -> None:
    (cluster,) = load(
        tmp_path,
        NATS + '[[clusters.decoders]]\nsubjects = ["tickets.*.new"]\nformat = "json-schema"\nschema = "ticket.json"\n',
    )
    body = b'{"id": 1}'
    assert decode(cluster, "tickets.eu.new", "value", body).decoded is not None
    assert decode(cluster, "tickets.eu.x.new", "value", body).decoded is None
    rest = '[[clusters.decoders]]\nsubjects = ["tickets.>"]\nformat = "json-schema"\nschema = "ticket.json"\n'
    (cluster,) = load(tmp_path, NATS + rest)
    assert decode(cluster, "tickets.eu.x.new", "value", body).decoded is not None
    assert decode(cluster, "tickets", "value", body).decoded is None


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ('topics = ["t"]\nformat = "avro"\nschema = "missing.avsc"\n', "cannot read Avro schema"),
        ('topics = ["t"]\nformat = "avro"\nschema = "broken.avsc"\n', "is not JSON"),
        ('topics = ["t"]\nformat = "avro"\nschema = "invalid.avsc"\n', "Avro schema"),
        ('topics = ["t"]\nformat = "protobuf"\ndescriptor = "reading.avsc"\ntype = "x.Y"\n', "not a FileDescriptorSet"),
        ('topics = ["t"]\nformat = "protobuf"\ndescriptor = "shipment.desc"\ntype = "ship.Nope"\n', "ship.Shipment"),
        ('topics = ["t"]\nformat = "protobuf"\ndescriptor = "shipment.desc"\n', "needs type"),
        ('topics = ["t"]\nformat = "json-schema"\nschema = "bad-schema.json"\n', "JSON Schema"),
        ('topics = ["t"]\nformat = "xml"\nschema = "ticket.json"\n', "format must be one of"),
        ('topics = ["t"]\npart = "header"\nformat = "avro"\nschema = "reading.avsc"\n', "part must be key or value"),
        ('subjects = ["t"]\nformat = "avro"\nschema = "reading.avsc"\n', "name topics, not subjects"),
        ('topics = []\nformat = "avro"\nschema = "reading.avsc"\n', "list of name patterns"),
        ('topics = ["t"]\nformat = "avro"\nschema = "reading.avsc"\ncolour = 1\n', "unknown keys"),
    ],
)
def test_a_bad_decoder_is_a_clear_error_when_the_clusters_file_loads(tmp_path: Path, entry: str, reason: str) -> None:
    localfiles.write_files(tmp_path)
    (tmp_path / "broken.avsc").write_text("{not json")
    (tmp_path / "invalid.avsc").write_text(json.dumps({"type": "record", "name": "R", "fields": [{"name": "a"}]}))
    (tmp_path / "bad-schema.json").write_text(json.dumps({"type": "objekt"}))
    path = tmp_path / "clusters.toml"
    path.write_text(KAFKA + "[[clusters.decoders]]\n" + entry)
    with pytest.raises(ClusterConfigError) as caught:
        from_file(str(path))
    message = str(caught.value)
    assert message.startswith("STREAMDESK_CLUSTERS: cluster 'k': decoders[0]: "), message
    assert reason in message


def test_a_descriptor_set_missing_an_import_is_refused_unless_well_known(tmp_path: Path) -> None:
    from google.protobuf import descriptor_pb2

    proto = descriptor_pb2.FileDescriptorProto(name="a.proto", package="a", syntax="proto3")
    proto.dependency.append("b/other.proto")
    proto.message_type.add(name="A")
    (tmp_path / "a.desc").write_bytes(descriptor_pb2.FileDescriptorSet(file=[proto]).SerializeToString())
    path = tmp_path / "clusters.toml"
    path.write_text(
        KAFKA + '[[clusters.decoders]]\ntopics = ["t"]\nformat = "protobuf"\ndescriptor = "a.desc"\ntype = "a.A"\n'
    )
    with pytest.raises(ClusterConfigError, match=r"imports b/other\.proto, which the set does not hold"):
        from_file(str(path))


def test_the_default_clusters_take_decoders_from_their_own_file(tmp_path: Path, settings: object) -> None:
    localfiles.write_files(tmp_path)
    decoders = tmp_path / "kafka-decoders.toml"
    decoders.write_text(localfiles.kafka_decoders_toml().replace("[[clusters.decoders]]", "[[decoders]]"))
    settings.KAFKA_BOOTSTRAP_SERVERS = "h:9092"  # type: ignore[attr-defined]
    settings.NATS_URL = ""  # type: ignore[attr-defined]
    settings.KAFKA_DECODERS = str(decoders)  # type: ignore[attr-defined]
    (cluster,) = from_env()
    assert cluster.decodes and len(cluster.decoders) == 3
    assert decode(cluster, "readings", "value", localfiles.avro_bytes(
        {"sensor": "s", "count": 1, "at": 2, "raw": b""}
    )).decoded is not None  # fmt: skip
    decoders.write_text('[[decoders]]\ntopics = ["t"]\nformat = "avro"\nschema = "nope.avsc"\n')
    with pytest.raises(ClusterConfigError, match="KAFKA_DECODERS: decoders\\[0\\]: cannot read Avro schema"):
        from_env()


@pytest.fixture
def standin() -> Iterator[StandinRegistry]:
    server = StandinRegistry()
    registry_module._registries.clear()
    yield server
    server.close()
    registry_module._registries.clear()


def test_a_framed_payload_goes_to_the_registry_first(tmp_path: Path, standin: StandinRegistry) -> None:
    localfiles.write_files(tmp_path)
    path = tmp_path / "clusters.toml"
    path.write_text(
        KAFKA
        + f'schema_registry = {{url = "{standin.url}"}}\n'
        + '[[clusters.decoders]]\ntopics = ["readings"]\nformat = "avro"\nschema = "reading.avsc"\n'
    )
    (cluster,) = from_file(str(path))
    framed = AvroSerializer(SchemaRegistryClient({"url": standin.url}), json.dumps(localfiles.READING))(
        {"sensor": "r", "count": 3, "at": 4, "raw": b"x"}, SerializationContext("readings", MessageField.VALUE)
    )
    got = decode(cluster, "readings", "value", framed)
    assert got.decoded is not None and got.decoded.schema_id == 1 and got.decoded.subject == "readings-value"
    assert got.decoded.file is None
    unframed = localfiles.avro_bytes({"sensor": "p", "count": 0, "at": 0, "raw": b""})
    plain = decode(cluster, "readings", "value", unframed)
    assert plain.decoded is not None and plain.decoded.file == "reading.avsc" and plain.decoded.schema_id is None
    # A framed id the registry does not know: the registry's reason, the raw view kept.
    unknown = decode(cluster, "readings", "value", b"\x00\x00\x00\x00\x63" + b"\x01" * 3)
    assert unknown.decoded is None and unknown.error == "schema id 99 is not in the registry"


def test_a_bad_schema_file_stops_start_up_naming_the_setting(tmp_path: Path, settings: object) -> None:
    from console.checks import configuration_errors

    path = tmp_path / "clusters.toml"
    path.write_text(KAFKA + '[[clusters.decoders]]\ntopics = ["t"]\nformat = "avro"\nschema = "gone.avsc"\n')
    settings.STREAMDESK_CLUSTERS = str(path)  # type: ignore[attr-defined]
    (error,) = [e for e in configuration_errors() if "E002" in e]
    assert error.startswith("streamdesk.E002 STREAMDESK_CLUSTERS: cluster 'k': decoders[0]: cannot read Avro schema")
    assert error.endswith("(fix STREAMDESK_CLUSTERS)")
    settings.STREAMDESK_CLUSTERS = ""  # type: ignore[attr-defined]
    settings.KAFKA_DECODERS = str(tmp_path / "missing.toml")  # type: ignore[attr-defined]
    (error,) = [e for e in configuration_errors() if "E002" in e]
    missing = tmp_path / "missing.toml"
    assert (
        error
        == f"streamdesk.E002 KAFKA_DECODERS: cannot read {missing}: No such file or directory (fix KAFKA_DECODERS)"
    )
