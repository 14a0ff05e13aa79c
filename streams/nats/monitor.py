"""The server's HTTP monitoring endpoints (varz, jsz, connz, subsz) as the pages show them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streams.nats.convert import as_dict, as_int, parse_time


def server_overview(
    info: dict[str, Any],
    account: dict[str, Any] | None,
    varz: dict[str, Any] | None,
    jsz: dict[str, Any] | None,
) -> dict[str, Any]:
    """The server page's data from the client's INFO, ``$JS.API.INFO``, and varz/jsz when monitored.

    Monitoring-only numbers are None when monitoring is not configured.
    """
    v = varz or {}
    varz_js = as_dict(v.get("jetstream"))
    jetstream = account is not None or bool(varz_js.get("config")) or bool(info.get("jetstream"))
    limits = as_dict((account or {}).get("limits"))
    js_config = as_dict((jsz or {}).get("config")) or as_dict(varz_js.get("config"))

    def limit(name: str) -> int | None:
        """The account's limit; where the account has none (-1), the server's own."""
        value = as_int(limits.get(name), -1)
        if value >= 0:
            return value
        server_value = as_int(js_config.get(name), -1)
        return server_value if server_value >= 0 else None

    usage = None
    if account is not None:
        usage = {
            "streams": as_int(account.get("streams")),
            "consumers": as_int(account.get("consumers")),
            "memory": as_int(account.get("memory")),
            "storage": as_int(account.get("storage")),
            "max_streams": limit("max_streams"),
            "max_consumers": limit("max_consumers"),
            "max_memory": limit("max_memory"),
            "max_storage": limit("max_storage"),
            "api_total": as_int(as_dict(account.get("api")).get("total")),
            "api_errors": as_int(as_dict(account.get("api")).get("errors")),
        }
    server_js = None
    if jsz is not None:
        server_js = {
            "streams": as_int(jsz.get("streams")),
            "consumers": as_int(jsz.get("consumers")),
            "messages": as_int(jsz.get("messages")),
            "bytes": as_int(jsz.get("bytes")),
            "memory": as_int(jsz.get("memory")),
            "storage": as_int(jsz.get("storage")),
            "max_memory": as_int(js_config.get("max_memory")) if "max_memory" in js_config else None,
            "max_storage": as_int(js_config.get("max_storage")) if "max_storage" in js_config else None,
            "accounts": as_int(jsz.get("accounts")),
        }

    def mon(name: str) -> int | None:
        return as_int(v.get(name)) if varz is not None and name in v else None

    return {
        "version": str(v.get("version") or info.get("version") or "") or None,
        "server_name": str(v.get("server_name") or info.get("server_name") or "") or None,
        "server_id": str(v.get("server_id") or info.get("server_id") or "") or None,
        "jetstream": jetstream,
        "connections": mon("connections"),
        "total_connections": mon("total_connections"),
        "subscriptions": mon("subscriptions"),
        "slow_consumers": mon("slow_consumers"),
        "in_msgs": mon("in_msgs"),
        "out_msgs": mon("out_msgs"),
        "in_bytes": mon("in_bytes"),
        "out_bytes": mon("out_bytes"),
        "mem": mon("mem"),
        "cores": mon("cores"),
        "cpu": v.get("cpu") if varz is not None else None,
        "uptime": v.get("uptime") if varz is not None else None,
        "start": parse_time(v.get("start")),
        "max_payload": as_int(v.get("max_payload") or info.get("max_payload")) or None,
        "max_pending": mon("max_pending"),
        "max_connections": mon("max_connections"),
        "account": usage,
        "jetstream_server": server_js,
    }


@dataclass(frozen=True)
class ConnectionRow:
    cid: int
    name: str
    address: str
    subscriptions: int
    pending_bytes: int
    in_msgs: int
    out_msgs: int
    in_bytes: int
    out_bytes: int
    lang: str
    version: str
    uptime: str
    idle: str
    rtt: str
    level: str

    @classmethod
    def from_connz(cls, item: dict[str, Any], max_pending: int | None) -> ConnectionRow:
        pending = as_int(item.get("pending_bytes"))
        return cls(
            cid=as_int(item.get("cid")),
            name=str(item.get("name") or ""),
            address=f"{item.get('ip', '')}:{item.get('port', '')}",
            subscriptions=as_int(item.get("subscriptions")),
            pending_bytes=pending,
            in_msgs=as_int(item.get("in_msgs")),
            out_msgs=as_int(item.get("out_msgs")),
            in_bytes=as_int(item.get("in_bytes")),
            out_bytes=as_int(item.get("out_bytes")),
            lang=str(item.get("lang") or ""),
            version=str(item.get("version") or ""),
            uptime=str(item.get("uptime") or ""),
            idle=str(item.get("idle") or ""),
            rtt=str(item.get("rtt") or ""),
            level=pending_level(pending, max_pending),
        )

    @property
    def slow(self) -> bool:
        return self.level == "down"

    def as_api(self) -> dict[str, Any]:
        return {
            "cid": self.cid,
            "name": self.name,
            "address": self.address,
            "subscriptions": self.subscriptions,
            "pending_bytes": self.pending_bytes,
            "in_msgs": self.in_msgs,
            "out_msgs": self.out_msgs,
            "in_bytes": self.in_bytes,
            "out_bytes": self.out_bytes,
            "lang": self.lang,
            "version": self.version,
            "uptime": self.uptime,
            "idle": self.idle,
            "rtt": self.rtt,
            "slow": self.slow,
            "level": self.level,
        }


SLOW_FRACTION = 0.5


def pending_level(pending: int, max_pending: int | None) -> str:
    """ "ok" with nothing pending; "down" (a slow consumer) past half of the server's
    max_pending, where the server starts dropping the connection; else "warn"."""
    if pending <= 0:
        return "ok"
    if max_pending and pending >= max_pending * SLOW_FRACTION:
        return "down"
    return "warn"
