"""Local schema files for the tests, and payloads written by independent libraries (fastavro, protobuf, json)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from fastavro import parse_schema, schemaless_writer
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

READING = {
    "type": "record",
    "name": "Reading",
    "namespace": "plant",
    "fields": [
        {"name": "sensor", "type": "string"},
        {"name": "count", "type": "long"},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "raw", "type": "bytes"},
    ],
}
TICKET = {
    "title": "Ticket",
    "type": "object",
    "properties": {"id": {"type": "integer"}, "tags": {"type": "array", "items": {"type": "string"}}},
    "required": ["id"],
}


def shipment_file() -> descriptor_pb2.FileDescriptorProto:
    """``ship.Shipment`` with a nested enum and a well-known import (google.protobuf.Timestamp)."""
    proto = descriptor_pb2.FileDescriptorProto(name="ship/shipment.proto", package="ship", syntax="proto3")
    proto.dependency.append("google/protobuf/timestamp.proto")
    message = proto.message_type.add(name="Shipment")
    message.field.add(name="shipment_id", number=1, type=3, label=1)  # int64
    message.field.add(name="carrier", number=2, type=9, label=1)  # string
    message.field.add(name="state", number=3, type=14, label=1, type_name=".ship.Shipment.State")
    message.field.add(name="sent_at", number=4, type=11, label=1, type_name=".google.protobuf.Timestamp")
    enum = message.enum_type.add(name="State")
    enum.value.add(name="PACKED", number=0)
    enum.value.add(name="SENT", number=1)
    return proto


def shipment_class() -> Any:
    """The message class as a producer would have it, in a pool of its own."""
    from google.protobuf import timestamp_pb2

    pool = descriptor_pool.DescriptorPool()
    well_known = descriptor_pb2.FileDescriptorProto()
    timestamp_pb2.DESCRIPTOR.CopyToProto(well_known)
    pool.Add(well_known)
    pool.Add(shipment_file())
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("ship.Shipment"))


def write_files(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    avsc = folder / "reading.avsc"
    avsc.write_text(json.dumps(READING))
    descriptor = folder / "shipment.desc"
    # As ``protoc --descriptor_set_out`` without ``--include_imports``: the well-known import is not in it.
    descriptor.write_bytes(descriptor_pb2.FileDescriptorSet(file=[shipment_file()]).SerializeToString())
    schema = folder / "ticket.json"
    schema.write_text(json.dumps(TICKET))
    return {"avro": avsc, "protobuf": descriptor, "json": schema}


def avro_bytes(record: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    schemaless_writer(out, parse_schema(READING), record)
    return out.getvalue()


def kafka_decoders_toml() -> str:
    return (
        '[[clusters.decoders]]\ntopics = ["*-readings", "readings"]\nformat = "avro"\nschema = "reading.avsc"\n'
        '[[clusters.decoders]]\ntopics = ["*-shipments"]\nformat = "protobuf"\n'
        'descriptor = "shipment.desc"\ntype = "ship.Shipment"\n'
        '[[clusters.decoders]]\ntopics = ["*-readings"]\npart = "key"\nformat = "json-schema"\n'
        'schema = "ticket.json"\n'
    )


def clusters_file(folder: Path, kafka: str, nats: str) -> Path:
    """A clusters file with a Kafka cluster ``lk`` and a NATS cluster ``ln``, both with local decoders."""
    write_files(folder)
    path = folder / "clusters.toml"
    path.write_text(
        f'[[clusters]]\nslug = "lk"\nkind = "kafka"\nservers = "{kafka}"\n'
        + kafka_decoders_toml()
        + f'[[clusters]]\nslug = "ln"\nkind = "nats"\nservers = "{nats}"\n'
        '[[clusters.decoders]]\nsubjects = ["tickets.>"]\nformat = "json-schema"\nschema = "ticket.json"\n'
        '[[clusters.decoders]]\nsubjects = ["readings.*"]\nformat = "avro"\nschema = "reading.avsc"\n'
    )
    return path
