"""Changing a topic's configs: IncrementalAlterConfigs, or only its validation (a dry run).

Kafka refuses a whole request for one bad entry and names that entry only in its
message, so a refusal is traced back to the config that caused it: by its name in the
message, else by validating the entries one at a time.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

from streams.errors import InvalidInput
from streams.kafka.client import error_of, gather_futures
from streams.kafka.names import MAX_CONFIGS, is_config_name, parse_configs

if TYPE_CHECKING:
    from streams.kafka.adapter import KafkaAdapter

# Refusals that are about one entry of the request.
ENTRY_REFUSALS = frozenset({KafkaError.INVALID_CONFIG, KafkaError.POLICY_VIOLATION})
# Beyond this many entries a refusal is not traced entry by entry.
MAX_PROBES = 50


@dataclass(frozen=True)
class ConfigChange:
    set: Mapping[str, str]
    delete: tuple[str, ...]

    @property
    def names(self) -> list[str]:
        return [*self.set, *self.delete]

    @property
    def params(self) -> dict[str, Any]:
        return {"set": dict(self.set), "delete": list(self.delete)}


def parse_change(body: Mapping[str, Any], *, form: bool = False) -> ConfigChange:
    """``{"set": {name: value}, "delete": [name]}``; a form gives ``name=value`` lines and names
    separated by commas or spaces."""
    values = parse_configs(body.get("set"), field="set")
    raw = body.get("delete")
    if raw is None or raw == "":
        names: list[Any] = []
    elif form and isinstance(raw, str):
        names = [n for n in re.split(r"[\s,]+", raw) if n]
    elif isinstance(raw, list):
        names = raw
    else:
        raise InvalidInput("delete must be a list of config names.", field="delete")
    deleted: list[str] = []
    for name in names:
        if not is_config_name(name):
            raise InvalidInput(f"delete: {str(name)[:60]!r} is not a config name.", field="delete")
        if name in values:
            raise InvalidInput(f"{name} is both set and deleted.", field=name)
        if name not in deleted:
            deleted.append(name)
    if not values and not deleted:
        raise InvalidInput("Name at least one config to set or delete.", field="set")
    if len(values) + len(deleted) > MAX_CONFIGS:
        raise InvalidInput(f"At most {MAX_CONFIGS} configs change at once.", field="set")
    return ConfigChange(set=values, delete=tuple(deleted))


def _resource(topic: str, change: ConfigChange) -> ConfigResource:
    entries = [ConfigEntry(n, v, incremental_operation=AlterConfigOpType.SET) for n, v in change.set.items()]
    entries += [ConfigEntry(n, None, incremental_operation=AlterConfigOpType.DELETE) for n in change.delete]
    return ConfigResource(ResourceType.TOPIC, topic, incremental_configs=entries)


def named_in(message: str, names: Sequence[str]) -> str | None:
    """The requested config a refusal's message names (the longest, as one name may contain another)."""
    for name in sorted(names, key=len, reverse=True):
        if re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w.-])", message):
            return name
    return None


async def alter_topic_configs(adapter: KafkaAdapter, topic: str, change: ConfigChange, *, dry_run: bool) -> None:
    """Apply ``change`` (or with ``dry_run`` only validate it); a refusal is a 400 naming the config."""
    what = f"{'validate' if dry_run else 'alter'} configs of {topic}"

    def send(part: ConfigChange, validate_only: bool) -> None:
        futures = adapter.admin.incremental_alter_configs(
            [_resource(topic, part)], validate_only=validate_only, request_timeout=adapter.timeout
        )
        _, failures = gather_futures(futures, time.monotonic() + adapter.timeout)
        if failures:
            raise next(iter(failures.values()))

    def culprit(exc: KafkaException) -> str | None:
        err = error_of(exc)
        named = named_in(err.str() if err else str(exc), change.names)
        if named is not None or len(change.names) == 1:
            return named or change.names[0]
        for name in change.names[:MAX_PROBES]:
            single = ConfigChange(
                set={name: change.set[name]} if name in change.set else {},
                delete=(name,) if name not in change.set else (),
            )
            try:
                send(single, True)
            except KafkaException as probe:
                probe_err = error_of(probe)
                if probe_err is not None and probe_err.code() in ENTRY_REFUSALS:
                    return name
                raise
        return None

    def run() -> None:
        try:
            send(change, dry_run)
        except KafkaException as exc:
            err = error_of(exc)
            if err is not None and err.code() in ENTRY_REFUSALS:
                raise InvalidInput(f"{what}: {err.str()}", field=culprit(exc) or "set") from exc
            raise

    try:
        await adapter.call(run, what=what, timeout=adapter.timeout * 3)
    finally:
        if not dry_run:
            adapter.invalidate("configs", topic)
