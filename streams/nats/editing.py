"""Creating and changing JetStream streams and consumers, in nats-server's own JSON.

A config is checked here only as far as a person's typing needs (types, names,
subjects, durations); the server decides the rest, and its refusal becomes a 400
naming the field its description speaks of. An edit is the stream's current config
with the given fields laid over it, so a partial edit leaves the rest as it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streams import adapters, audit
from streams.clusters import ClusterConfig
from streams.errors import BrokerError, InvalidInput, StreamdeskError
from streams.nats.convert import as_dict
from streams.nats.durations import parse_duration
from streams.nats.jetstream import require_name, valid_name
from streams.nats.subjects import SUBJECT_MAX_LENGTH, validate_subject
from streams.nats.types import ConsumerSummary, StreamDetail

STREAM_CREATE = "nats.stream.create"
STREAM_UPDATE = "nats.stream.update"
CONSUMER_CREATE = "nats.consumer.create"
CONSUMER_UPDATE = "nats.consumer.update"
CONSUMER_DELETE = "nats.consumer.delete"

NS = 1_000_000_000
MAX_NS = 100 * 365 * 86400 * NS
MAX_INT = 2**63 - 1
MAX_SUBJECTS = 1000
MAX_BACKOFF = 100

STREAM_CHOICES = {
    "retention": ("limits", "interest", "workqueue"),
    "storage": ("file", "memory"),
    "discard": ("old", "new"),
}
STREAM_INTS = ("max_msgs", "max_bytes", "max_msgs_per_subject", "max_msg_size", "max_consumers")
STREAM_DURATIONS = ("max_age", "duplicate_window")
STREAM_BOOLS = ("allow_direct", "deny_delete", "deny_purge", "allow_rollup_hdrs", "sealed", "discard_new_per_subject")

CONSUMER_CHOICES = {
    "deliver_policy": ("all", "last", "new", "by_start_sequence", "by_start_time", "last_per_subject"),
    "ack_policy": ("none", "all", "explicit"),
    "replay_policy": ("instant", "original"),
}
CONSUMER_INTS = ("max_deliver", "max_ack_pending", "max_waiting", "opt_start_seq", "num_replicas")
CONSUMER_DURATIONS = ("ack_wait", "inactive_threshold")

# Words of the server's error descriptions -> the config field they are about; the
# longer phrases first, so "max deliver" is not taken for "deliver policy".
FIELD_WORDS: tuple[tuple[str, str], ...] = (
    ("storage", "storage"),
    ("retention", "retention"),
    ("replicas", "num_replicas"),
    ("duplicate", "duplicate_window"),
    ("max age", "max_age"),
    ("maximum age", "max_age"),
    ("discard", "discard"),
    ("max msgs per subject", "max_msgs_per_subject"),
    ("max messages per subject", "max_msgs_per_subject"),
    ("max msg size", "max_msg_size"),
    ("max message size", "max_msg_size"),
    ("max bytes", "max_bytes"),
    ("maximum bytes", "max_bytes"),
    ("max msgs", "max_msgs"),
    ("maximum messages", "max_msgs"),
    ("max consumers", "max_consumers"),
    ("allow direct", "allow_direct"),
    ("direct", "allow_direct"),
    ("mirror", "mirror"),
    ("sources", "sources"),
    ("durable", "durable_name"),
    ("filter subject", "filter_subjects"),
    ("max deliver", "max_deliver"),
    ("maxdeliver", "max_deliver"),
    ("backoff", "backoff"),
    ("deliver policy", "deliver_policy"),
    ("ack policy", "ack_policy"),
    ("ack wait", "ack_wait"),
    ("max ack pending", "max_ack_pending"),
    ("start sequence", "opt_start_seq"),
    ("start time", "opt_start_time"),
    ("deliver subject", "deliver_subject"),
    ("replay", "replay_policy"),
    ("subjects", "subjects"),
    ("subject", "subjects"),
    ("name", "name"),
)


def field_of(description: str) -> str | None:
    """The config field a server error description names, when it can be told."""
    text = description.lower().replace("_", " ")
    for words, field in FIELD_WORDS:
        if words in text:
            return field
    return None


def _refusal(exc: StreamdeskError, *, consumer: bool) -> StreamdeskError:
    """A create or update the server refused as a 400 naming the field; other errors unchanged."""
    if type(exc) not in (InvalidInput, BrokerError):
        return exc
    description = exc.message.split(": ", 1)[-1]
    field = exc.field or field_of(description)
    if consumer and field == "subjects":
        field = "filter_subjects"
    if isinstance(exc, BrokerError) and field is None:
        return exc
    return InvalidInput(exc.message, field=field)


# -- reading a config from a person ------------------------------------------------


def _int(body: Mapping[str, Any], key: str, *, minimum: int = -1) -> int | None:
    value = body.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidInput(f"{key} must be a whole number.", field=key)
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise InvalidInput(f"{key} must be a whole number.", field=key) from None
    if not isinstance(value, int) or not minimum <= value <= MAX_INT:
        raise InvalidInput(f"{key} must be a whole number of at least {minimum}.", field=key)
    return value


def _duration(body: Mapping[str, Any], key: str) -> int | None:
    """Nanoseconds, as nats-server has them; a string such as "2m" or "1h" is read as a duration."""
    value = body.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str) and not value.strip().isdigit():
        if value.strip() in ("0", "none"):
            return 0
        try:
            return int(parse_duration(value).total_seconds() * NS)
        except ValueError:
            raise InvalidInput(f"{key} must be nanoseconds or a duration such as 2m or 1h.", field=key) from None
    ns = _int(body, key, minimum=0)
    if ns is not None and ns > MAX_NS:
        raise InvalidInput(f"{key} may be at most 100 years.", field=key)
    return ns


def _bool(body: Mapping[str, Any], key: str) -> bool | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "on", "yes", "0", "false", "off", "no", ""):
        return value.strip().lower() in ("1", "true", "on", "yes")
    raise InvalidInput(f"{key} must be true or false.", field=key)


def _choice(body: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> str | None:
    value = body.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or value.strip().lower() not in allowed:
        raise InvalidInput(f"{key} must be one of {', '.join(allowed)}.", field=key)
    return value.strip().lower()


def _subjects(body: Mapping[str, Any], key: str) -> list[str] | None:
    """A list of subjects; the page's text field may hold them separated by commas or spaces."""
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        value = [s for s in value.replace(",", " ").split() if s]
    if not isinstance(value, list) or len(value) > MAX_SUBJECTS:
        raise InvalidInput(f"{key} must be a list of at most {MAX_SUBJECTS} subjects.", field=key)
    for subject in value:
        if not isinstance(subject, str) or len(subject) > SUBJECT_MAX_LENGTH:
            raise InvalidInput(f"{key} must be a list of subjects.", field=key)
        problem = validate_subject(subject)
        if problem:
            raise InvalidInput(f"{key}: {subject[:80]!r} is not a valid subject: {problem}.", field=key)
    return list(value)


def _overlay(
    body: Mapping[str, Any],
    *,
    choices: Mapping[str, tuple[str, ...]],
    ints: tuple[str, ...],
    durations: tuple[str, ...],
    bools: tuple[str, ...],
    subjects: tuple[str, ...],
) -> dict[str, Any]:
    """The known fields of ``body`` checked and typed; unknown fields as given, for the server to judge."""
    known = {*choices, *ints, *durations, *bools, *subjects}
    config: dict[str, Any] = {k: v for k, v in body.items() if k not in known and k != "csrfmiddlewaretoken"}
    typed: dict[str, Any] = {}
    for key, allowed in choices.items():
        typed[key] = _choice(body, key, allowed)
    for key in ints:
        typed[key] = _int(body, key)
    for key in durations:
        typed[key] = _duration(body, key)
    for key in bools:
        typed[key] = _bool(body, key)
    for key in subjects:
        typed[key] = _subjects(body, key)
    config.update({k: v for k, v in typed.items() if v is not None})
    return config


def stream_config(body: Mapping[str, Any], *, name: str | None = None) -> dict[str, Any]:
    """A stream config from the API's JSON or the page's form; ``name`` (an edit) fixes the name."""
    config = _overlay(
        body,
        choices=STREAM_CHOICES,
        ints=(*STREAM_INTS, "num_replicas"),
        durations=STREAM_DURATIONS,
        bools=STREAM_BOOLS,
        subjects=("subjects",),
    )
    given = config.get("name")
    if name is not None:
        if given not in (None, "", name):
            raise InvalidInput("A stream's name cannot be changed.", field="name")
        config["name"] = name
    elif not isinstance(given, str) or not valid_name(given.strip()):
        raise InvalidInput("Give the stream a name without dots, wildcards, spaces or slashes.", field="name")
    else:
        config["name"] = given.strip()
    return config


def consumer_config(body: Mapping[str, Any], *, name: str | None = None) -> dict[str, Any]:
    """A consumer config; ``filter_subject`` (one) is folded into ``filter_subjects``."""
    raw = dict(body)
    if raw.get("filter_subject") and not raw.get("filter_subjects"):
        raw["filter_subjects"] = raw.pop("filter_subject")
    else:
        raw.pop("filter_subject", None)
    config = _overlay(
        raw,
        choices=CONSUMER_CHOICES,
        ints=CONSUMER_INTS,
        durations=CONSUMER_DURATIONS,
        bools=("headers_only", "mem_storage"),
        subjects=("filter_subjects",),
    )
    config["backoff"] = _backoff(raw)
    if config["backoff"] is None:
        del config["backoff"]
    durable = config.get("durable_name") or config.get("name")
    if name is not None:
        if durable not in (None, "", name):
            raise InvalidInput("A consumer's name cannot be changed.", field="durable_name")
        durable = name
    if not isinstance(durable, str) or not valid_name(durable.strip()):
        raise InvalidInput("Give the consumer a durable name without dots, wildcards or spaces.", field="durable_name")
    config["durable_name"] = durable.strip()
    config.pop("name", None)
    if name is None:
        config.setdefault("ack_policy", "explicit")
        config.setdefault("deliver_policy", "all")
    return config


def _backoff(body: Mapping[str, Any]) -> list[int] | None:
    value = body.get("backoff")
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = [s for s in value.replace(",", " ").split() if s]
    if not isinstance(value, list) or len(value) > MAX_BACKOFF:
        raise InvalidInput(f"backoff must be a list of at most {MAX_BACKOFF} durations.", field="backoff")
    out = []
    for i, item in enumerate(value):
        ns = _duration({"backoff": item}, "backoff")
        if not ns:
            raise InvalidInput(f"backoff[{i}] must be a positive duration.", field="backoff")
        out.append(ns)
    return out


def form_values(config: Mapping[str, Any]) -> dict[str, str]:
    """A config as the edit forms show it: durations as "90s" (nanoseconds when not whole
    seconds), subject lists space separated, so that posting the form back changes nothing."""
    shown: dict[str, str] = {}
    for key, value in config.items():
        if key in (*STREAM_DURATIONS, *CONSUMER_DURATIONS) and isinstance(value, int):
            shown[key] = f"{value // NS}s" if value and value % NS == 0 else str(value)
        elif key == "backoff" and isinstance(value, list):
            shown[key] = " ".join(f"{v // NS}s" if isinstance(v, int) and v % NS == 0 else str(v) for v in value)
        elif isinstance(value, list):
            shown[key] = " ".join(str(v) for v in value)
        elif isinstance(value, bool):
            shown[key] = "1" if value else ""
        else:
            shown[key] = str(value)
    if "filter_subject" in config and not config.get("filter_subjects"):
        shown["filter_subjects"] = str(config["filter_subject"])
    return shown


# -- the writes --------------------------------------------------------------------


async def create_stream(cluster: ClusterConfig, config: dict[str, Any]) -> StreamDetail:
    adapter = adapters.nats(cluster)
    name = config["name"]
    config.setdefault("allow_direct", True)
    config.setdefault("subjects", [name])

    async def run() -> None:
        try:
            await adapter.api(f"STREAM.CREATE.{name}", config, what=f"Creating stream {name!r}")
        except StreamdeskError as exc:
            raise _refusal(exc, consumer=False) from None

    try:
        await adapter.call(run, what=f"creating stream {name}")
    finally:
        adapter.invalidate()
    return await adapter.stream(name)


async def update_stream(cluster: ClusterConfig, name: str, changes: dict[str, Any]) -> StreamDetail:
    adapter = adapters.nats(cluster)
    require_name("stream", name)

    async def run() -> None:
        current = as_dict((await adapter.api(f"STREAM.INFO.{name}", what=f"Stream {name!r}")).get("config"))
        config = {**current, **changes, "name": name}
        try:
            await adapter.api(f"STREAM.UPDATE.{name}", config, what=f"Updating stream {name!r}")
        except StreamdeskError as exc:
            raise _refusal(exc, consumer=False) from None

    try:
        await adapter.call(run, what=f"updating stream {name}")
    finally:
        adapter.invalidate()
    return await adapter.stream(name)


async def put_consumer(cluster: ClusterConfig, stream: str, config: dict[str, Any], *, update: bool) -> ConsumerSummary:
    """Create (``update`` False: refused if it exists) or update a durable consumer."""
    adapter = adapters.nats(cluster)
    require_name("stream", stream)
    name = config["durable_name"]

    async def run() -> None:
        sent = config
        if update:
            current = as_dict(
                (await adapter.api(f"CONSUMER.INFO.{stream}.{name}", what=f"Consumer {name!r}")).get("config")
            )
            sent = {**current, **config}
            if config.get("filter_subjects"):
                sent.pop("filter_subject", None)
        body = {"stream_name": stream, "config": sent, "action": "update" if update else "create"}
        try:
            await adapter.api(f"CONSUMER.CREATE.{stream}.{name}", body, what=f"Consumer {name!r} of {stream!r}")
        except StreamdeskError as exc:
            raise _refusal(exc, consumer=True) from None

    try:
        await adapter.call(run, what=f"writing consumer {stream}/{name}")
    finally:
        adapter.invalidate()
    return await adapter.consumer(stream, name)


async def delete_consumer(cluster: ClusterConfig, stream: str, name: str) -> None:
    adapter = adapters.nats(cluster)
    require_name("stream", stream)
    require_name("consumer", name)

    async def run() -> None:
        await adapter.api(f"CONSUMER.DELETE.{stream}.{name}", what=f"Deleting consumer {name!r} of {stream!r}")

    try:
        await adapter.call(run, what=f"deleting consumer {stream}/{name}")
    finally:
        adapter.invalidate()


async def do_create_stream(actor: audit.Actor, cluster: ClusterConfig, config: dict[str, Any]) -> StreamDetail:
    return await audit.perform(
        actor,
        STREAM_CREATE,
        lambda: create_stream(cluster, config),
        cluster=cluster.slug,
        target=config["name"],
        params=config,
        describe=lambda d: f"created stream {config['name']}",
    )


async def do_update_stream(
    actor: audit.Actor, cluster: ClusterConfig, name: str, changes: dict[str, Any]
) -> StreamDetail:
    return await audit.perform(
        actor,
        STREAM_UPDATE,
        lambda: update_stream(cluster, name, changes),
        cluster=cluster.slug,
        target=name,
        params=changes,
        describe=lambda d: f"updated stream {name}",
    )


async def do_put_consumer(
    actor: audit.Actor, cluster: ClusterConfig, stream: str, config: dict[str, Any], *, update: bool
) -> ConsumerSummary:
    name = config["durable_name"]
    return await audit.perform(
        actor,
        CONSUMER_UPDATE if update else CONSUMER_CREATE,
        lambda: put_consumer(cluster, stream, config, update=update),
        cluster=cluster.slug,
        target=f"{stream}/{name}",
        params=config,
        describe=lambda c: f"{'updated' if update else 'created'} consumer {name}",
    )


async def do_delete_consumer(actor: audit.Actor, cluster: ClusterConfig, stream: str, name: str) -> None:
    await audit.perform(
        actor,
        CONSUMER_DELETE,
        lambda: delete_consumer(cluster, stream, name),
        cluster=cluster.slug,
        target=f"{stream}/{name}",
        describe=lambda _: f"deleted consumer {name}",
    )
