"""A Key-Value watch: the JetStream tail of the bucket's stream ``KV_<bucket>``, shown as key changes.

The bucket's stream holds every key as the subject ``$KV.<bucket>.<key>``; the watch is
the same ordered, ephemeral consumer as a stream's tail, filtered to the key pattern.
From "beginning" it delivers the last message of every key (every current value, deletes
and purges included as their markers), then every change; from "now" only changes.
"""

from __future__ import annotations

from typing import Any

from streams.errors import NotFound
from streams.tail.jetstream import JetStreamUpstream
from streams.tail.messages import Item, kv_item


class KeyValueUpstream(JetStreamUpstream):
    @property
    def what(self) -> str:
        return f"watch bucket {self.spec.name}"

    @property
    def label(self) -> str:
        return f"Bucket {self.spec.name}"

    @property
    def stream(self) -> str:
        return f"KV_{self.spec.name}"

    @property
    def filter_subject(self) -> str:
        return f"$KV.{self.spec.name}.{self.spec.keys or '>'}"

    async def _info(self) -> dict[str, Any]:
        try:
            return await self.conn.api(f"STREAM.INFO.{self.stream}", what=f"Bucket {self.spec.name!r}")
        except NotFound:
            raise NotFound(
                f"No Key-Value bucket named {self.spec.name!r} on {self.config.name}.", field="name"
            ) from None

    def _start_fields(self, first_seq: int, last_seq: int) -> tuple[dict[str, Any], int | None]:
        if self.spec.start.kind == "beginning":
            # Every key's latest revision, in revision order, and then whatever changes.
            return {"deliver_policy": "last_per_subject"}, None
        return super()._start_fields(first_seq, last_seq)

    def _item(self, entry: tuple[Any, ...]) -> Item:
        subject, data, headers, seq, stamp = entry
        return kv_item(self.spec.name, subject, data, headers, seq=seq, stamp_ns=stamp, rules=self.mask_rules(subject))
