"""Built-in handlers for managed consumers: ``forward``, ``validate`` and ``discard``.

Discovered like any app's ``handlers`` module (see ``streams.workers.registry``).
"""

from __future__ import annotations

from typing import Any

from streams.workers.message import Destination, HandlerConfig, Message
from streams.workers.registry import DeadLetter, handler

DESTINATION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "cluster": {"type": "string", "minLength": 1, "description": "slug of the cluster to send to"},
        "topic": {"type": "string", "minLength": 1, "description": "Kafka topic"},
        "subject": {"type": "string", "minLength": 1, "description": "NATS subject"},
        "jetstream": {"type": "boolean", "description": "publish to JetStream and wait for its ack"},
    },
    "required": ["cluster"],
    "oneOf": [{"required": ["topic"]}, {"required": ["subject"]}],
    "additionalProperties": False,
}


def _destination(config: Any, key: str | None = None) -> Destination:
    """The destination in ``config`` (or under ``config[key]``), made once per consumer."""
    if isinstance(config, HandlerConfig):
        found = config.memoized(key or "destination")
        if found is not None:
            return found
        data = config if key is None else config[key]
        return config.memo(key or "destination", lambda: Destination.from_config(data))
    return Destination.from_config(config if key is None else config[key])


def forward_to(message: Message, destination: Destination) -> None:
    message.forward(destination)


@handler(
    "forward",
    description="A bridge: copies key, value and headers to a Kafka topic or a NATS subject on any cluster, "
    "adding streamdesk-origin-* headers.",
    config_schema=DESTINATION_SCHEMA,
)
def forward(message: Message) -> None:
    # Once per message of every bridge: the memoized destination without a call to find it.
    config = message.config
    destination = config.memoized("destination") if isinstance(config, HandlerConfig) else None
    message.forward(destination or _destination(config))


def _forward_lane(make: Any, lane: Any) -> int:
    """A lane's messages forwarded in one call (the loop's fast path, see ``Message.forward_lane``)."""
    config = getattr(make, "config", None)
    if not isinstance(config, HandlerConfig) or not hasattr(make, "forward_lane"):
        return 0
    return int(make.forward_lane(lane, _destination(config)))


forward.lane = _forward_lane  # type: ignore[attr-defined]


VALIDATE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "schema": {
            "anyOf": [
                {"type": "object", "description": "the JSON Schema every message value must fit"},
                {
                    "type": "string",
                    "minLength": 1,
                    "description": '"registry": the value must decode with a version of the topic\'s '
                    "value subject (<topic>-value) in the cluster's schema registry; any other text: that subject",
                },
            ]
        },
        "forward": {"oneOf": [{"type": "null"}, DESTINATION_SCHEMA]},
    },
    "required": ["schema"],
    "additionalProperties": False,
}


def _validator(config: Any) -> Any:
    from jsonschema import Draft202012Validator

    def build() -> Any:
        return Draft202012Validator(config["schema"])

    return config.memo("validator", build) if isinstance(config, HandlerConfig) else build()


def _check_json(message: Message) -> None:
    try:
        document = message.json()
    except ValueError as exc:
        raise DeadLetter(f"the value is not JSON: {exc}") from None
    error = next(iter(_validator(message.config).iter_errors(document)), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path)
        raise DeadLetter(f"the value does not fit the schema{' at ' + where if where else ''}: {error.message}")


def _check_registry(message: Message, wanted: str) -> None:
    from streams.schemas.registry import RegistryUnavailable, UnknownSchema
    from streams.schemas.validate import SchemaMismatch, check_registered

    name = message.topic or message.subject or ""
    subject = f"{name}-value" if wanted == "registry" else wanted
    try:
        check_registered(message.cluster, subject, name, message.value)
    except (SchemaMismatch, UnknownSchema) as exc:
        raise DeadLetter(str(exc)) from None
    except RegistryUnavailable as exc:
        # Not the message's fault: retried with backoff, like a destination that is down.
        raise RuntimeError(str(exc)) from None


@handler(
    "validate",
    description='Checks each value against a JSON Schema, or against the schema registry ("registry": the '
    "topic's value subject; or a subject's name): valid messages are forwarded (when forward is set), invalid ones "
    "go to the dead-letter destination at once, without retries.",
    config_schema=VALIDATE_SCHEMA,
)
def validate(message: Message) -> None:
    wanted = message.config["schema"]
    if isinstance(wanted, str):
        _check_registry(message, wanted)
    else:
        _check_json(message)
    if message.config.get("forward"):
        forward_to(message, _destination(message.config, "forward"))


@handler("discard", description="Acknowledges every message and does nothing else (for benchmarks and drains).")
def discard(message: Message) -> None:
    return None
