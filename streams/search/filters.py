"""What a search matches: a substring over key, value and header values, or a jq expression
over the message with its key and value decoded."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import jq

from streams.errors import InvalidInput
from streams.masking import Rule, mask_header, mask_payload, seen_bytes
from streams.payloads import Payload
from streams.schemas.decode import decode as schema_decode
from streams.schemas.decode import decode_payload

# jq answers at most this many outputs per message before the first truthy one decides.
MAX_JQ_OUTPUTS = 16


def decode(data: bytes | None) -> Any:
    """A payload without a schema as jq sees it: JSON when it parses, else text (undecodable bytes replaced)."""
    if data is None:
        return None
    text = data.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def schema_reader(config: Any, topic: str) -> Callable[[str, bytes | None], Any] | None:
    """For a Record's ``schema_data``: (part, raw) -> the schema-decoded data, or None where no schema read it;
    None for a cluster without a registry or local decoders."""
    if not getattr(config, "decodes", False):
        return None

    def read(part: str, raw: bytes | None) -> Any:
        decoded = schema_decode(config, topic, part, raw).decoded
        return decoded.data if decoded is not None else None

    return read


def compile_jq(expression: str) -> Any:
    """A compiled program, or a 400 naming ``jq`` with the library's own message."""
    try:
        return jq.compile(expression)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="jq") from None


@dataclass(frozen=True)
class Record:
    """A message as filters see it, broker-neutral."""

    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]
    partition: int | None = None
    offset: int | None = None
    seq: int | None = None
    subject: str | None = None
    timestamp: str | None = None
    # (part, raw) -> the schema-decoded data, or None where no schema read it.
    schema_data: Callable[[str, bytes | None], Any] | None = field(default=None, compare=False)

    def _decoded(self, part: str, raw: bytes | None) -> Any:
        if self.schema_data is not None and (data := self.schema_data(part, raw)) is not None:
            return data
        return decode(raw)

    def text_form(self, part: str, needle: bytes) -> bool:
        """Whether ``needle`` is in the part: in its decoded JSON text where a schema decodes it, else in its bytes."""
        raw = self.key if part == "key" else self.value
        if raw is None:
            return False
        if self.schema_data is not None and (data := self.schema_data(part, raw)) is not None:
            return needle in json.dumps(data, ensure_ascii=False).encode()
        return needle in raw

    def jq_input(self) -> dict[str, Any]:
        return {
            "key": self._decoded("key", self.key),
            "value": self._decoded("value", self.value),
            "headers": {name: decode(v) for name, v in self.headers},
            "partition": self.partition,
            "offset": self.offset,
            "seq": self.seq,
            "subject": self.subject,
            "timestamp": self.timestamp,
        }


def masked_record(record: Record, config: Any, topic: str, rules: Sequence[Rule]) -> Record:
    """The message as someone without unmask sees it, for filters and exports: what rules mask is
    replaced in the key, the value (its decoded form where a schema reads it) and the headers,
    so neither ``text`` nor ``jq`` can find a masked value."""
    if not rules:
        return record
    shown: dict[str, Payload | None] = {"key": None, "value": None}
    for part, raw in (("key", record.key), ("value", record.value)):
        if raw is not None:
            shown[part] = mask_payload(decode_payload(config, topic, part, Payload.of(raw, None)), rules)
    headers = [
        (name, None if value is None else mask_header(name, Payload.of(value, None), rules).raw)
        for name, value in record.headers
    ]

    def data(part: str, raw: bytes | None) -> Any:
        # Decoded once, here: masked or not, the data a schema read is already at hand.
        payload = shown[part]
        decoded = payload.decoding.decoded if payload is not None and payload.decoding is not None else None
        return decoded.data if decoded is not None else None

    key, value = shown["key"], shown["value"]
    return replace(
        record,
        key=None if key is None else seen_bytes(key, record.key),
        value=None if value is None else seen_bytes(value, record.value),
        headers=headers,
        schema_data=data,
    )


Matcher = Callable[[Record], bool]


def raw_needle(text: str | None, expression: str | None, decoder: Any) -> bytes | None:
    """The bytes a reader may look for in a message's own key, value and header values in place of
    the matcher (b"" when every message matches): only without jq and where no schema decodes."""
    if expression or decoder is not None:
        return None
    return text.encode() if text else b""


class JqFailed(Exception):
    """jq raised at run time on a message (a type error, an ``error`` call)."""


def matcher(text: str | None, expression: str | None) -> Matcher:
    """Both given: a message must pass both. Neither: every message matches."""
    checks: list[Matcher] = []
    if text:
        needle = text.encode()

        def has_text(r: Record) -> bool:
            if r.text_form("value", needle) or r.text_form("key", needle):
                return True
            return any(v is not None and needle in v for _, v in r.headers)

        checks.append(has_text)
    if expression:
        program = compile_jq(expression)

        def passes(r: Record) -> bool:
            try:
                outputs = program.input_value(r.jq_input())
                for i, out in enumerate(outputs):
                    if out is not None and out is not False:
                        return True
                    if i >= MAX_JQ_OUTPUTS:
                        return False
            except ValueError:
                # A message jq cannot evaluate on (.a.b of a string) does not match.
                return False
            return False

        checks.append(passes)
    if not checks:
        return lambda r: True
    if len(checks) == 1:
        return checks[0]
    return lambda r: all(c(r) for c in checks)
