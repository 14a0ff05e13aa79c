"""NATS micro services, found by asking ``$SRV.INFO`` and ``$SRV.STATS`` of everyone listening.

Every instance answers once; the replies are gathered for a short window, bounded in
count and size, and read as hostile (any field may be missing, of the wrong type, or huge).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import nats
from nats.aio.client import Client as NatsClient
from nats.errors import TimeoutError as NatsTimeoutError

from streams import jsontext
from streams.nats.convert import as_int

GATHER_WINDOW_S = 0.5
MAX_RESPONDERS = 1000
MAX_REPLY_BYTES = 256 * 1024
MAX_TEXT = 500


def _text(value: Any) -> str:
    return value[:MAX_TEXT] if isinstance(value, str) else ""


def _ms(value: Any) -> float:
    return round(as_int(value) / 1_000_000, 3)


async def gather(nc: NatsClient, subject: str, *, window: float = GATHER_WINDOW_S) -> list[dict[str, Any]]:
    """Every JSON object answered to ``subject`` within ``window`` seconds."""
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox, max_msgs=MAX_RESPONDERS)
    found: list[dict[str, Any]] = []
    try:
        await nc.publish(subject, b"", reply=inbox)
        deadline = time.monotonic() + window
        while len(found) < MAX_RESPONDERS:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                msg = await sub.next_msg(timeout=remaining)
            except NatsTimeoutError:
                break
            if len(msg.data) > MAX_REPLY_BYTES:
                continue
            try:
                data = jsontext.loads(msg.data)
            except ValueError:
                continue
            if isinstance(data, dict):
                found.append(data)
    finally:
        try:
            await sub.unsubscribe()
        except nats.errors.Error:
            pass  # the connection closed under us: the subscription is gone with it
    return found


@dataclass
class Instance:
    id: str
    name: str
    version: str
    description: str
    started: str | None
    endpoints: list[dict[str, Any]]

    def as_api(self) -> dict[str, Any]:
        return {"id": self.id, "started": self.started, "endpoints": self.endpoints}


def _endpoints(info: dict[str, Any], stats: dict[str, Any]) -> list[dict[str, Any]]:
    counted = {}
    for ep in stats.get("endpoints") or []:
        if isinstance(ep, dict):
            counted[_text(ep.get("name"))] = ep
    rows = []
    listed = [ep for ep in info.get("endpoints") or [] if isinstance(ep, dict)] or list(counted.values())
    for ep in listed[:MAX_RESPONDERS]:
        name = _text(ep.get("name"))
        st = counted.get(name, {})
        rows.append(
            {
                "name": name,
                "subject": _text(ep.get("subject") or st.get("subject")),
                "queue_group": _text(ep.get("queue_group") or st.get("queue_group")) or None,
                "num_requests": as_int(st.get("num_requests")),
                "num_errors": as_int(st.get("num_errors")),
                "average_processing_time_ms": _ms(st.get("average_processing_time")),
                "last_error": _text(st.get("last_error")) or None,
            }
        )
    return rows


async def services(nc: NatsClient) -> list[dict[str, Any]]:
    """Every service by name and version, each with its instances, as the API lists them."""
    infos, stats = await asyncio.gather(gather(nc, "$SRV.INFO"), gather(nc, "$SRV.STATS"))
    stats_by_id = {_text(s.get("id")): s for s in stats if _text(s.get("id"))}
    instances: list[Instance] = []
    seen: set[str] = set()
    for info in infos:
        iid = _text(info.get("id"))
        if not iid or iid in seen:
            continue
        seen.add(iid)
        st = stats_by_id.get(iid, {})
        instances.append(
            Instance(
                id=iid,
                name=_text(info.get("name")),
                version=_text(info.get("version")),
                description=_text(info.get("description")),
                started=_text(st.get("started")) or None,
                endpoints=_endpoints(info, st),
            )
        )
    grouped: dict[tuple[str, str], dict[str, Any]] = {}
    for inst in sorted(instances, key=lambda i: (i.name, i.version, i.id)):
        entry = grouped.setdefault(
            (inst.name, inst.version),
            {"name": inst.name, "version": inst.version, "description": inst.description, "instances": []},
        )
        entry["instances"].append(inst.as_api())
    return list(grouped.values())
