"""Where cluster definitions come from: the environment, a clusters file, the admin.

All three become the same frozen ``ClusterConfig``; the registry keys adapters on
it, so editing a cluster in the admin gives the next request a fresh client.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlparse

from django.conf import settings
from django.core.exceptions import ValidationError

from streams import jsontext
from streams.redact import display_servers, display_url, redact_urls

if TYPE_CHECKING:
    from streams.schemas.local import DecoderSpec


class DecoderReader(Protocol):
    """Reads local decoder definitions (``streams.schemas.local`` provides it when the app starts);
    both raise ``ValueError`` with the reason when a definition or its file cannot be used."""

    def parse(self, raw: Any, *, kind: str, base: Path | None) -> tuple[DecoderSpec, ...]: ...

    def load_file(self, path: str, *, kind: str) -> tuple[DecoderSpec, ...]: ...


_decoder_reader: DecoderReader | None = None


def provide_decoders(reader: DecoderReader) -> None:
    global _decoder_reader
    _decoder_reader = reader


def _reader() -> DecoderReader:
    if _decoder_reader is None:
        raise RuntimeError("Local decoders are read by streams.schemas.local, which the app imports at start.")
    return _decoder_reader


KINDS = ("kafka", "nats")
SECRET_KEYS = frozenset({"password", "token", "nkey_seed", "alert_webhook_url", "schema_registry_password"})


class ClusterConfigError(ValueError):
    """A cluster definition that cannot be used; ``source`` names where it came from."""

    def __init__(self, source: str, message: str) -> None:
        message = redact_urls(message)
        super().__init__(f"{source}: {message}")
        self.source = source


@dataclass(frozen=True)
class ClusterConfig:
    slug: str
    kind: str
    name: str
    servers: tuple[str, ...]
    monitor_url: str = ""
    security_protocol: str = ""
    sasl_mechanism: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    token: str = field(default="", repr=False)
    nkey_seed: str = field(default="", repr=False)
    creds_file: str = ""
    tls_ca_file: str = ""
    tls_cert_file: str = ""
    tls_key_file: str = ""
    # Lag alerts go here (JSON POST); empty: STREAMDESK_LAG_WEBHOOK_URL, if set. A secret (chat webhooks embed one).
    alert_webhook_url: str = field(default="", repr=False)
    # A Confluent-compatible Schema Registry; clusters file: ``schema_registry = {url, username, password}``.
    schema_registry_url: str = ""
    schema_registry_username: str = ""
    schema_registry_password: str = field(default="", repr=False)
    schema_registry_ca_file: str = ""
    # Local schema files bound by name pattern (streams.schemas.local); clusters file: ``decoders = [...]``.
    decoders: tuple[DecoderSpec, ...] = ()
    source: str = "env"

    @property
    def decodes(self) -> bool:
        """Whether any schema may apply to this cluster's payloads (a registry or local decoders)."""
        return bool(self.schema_registry_url or self.decoders)

    def public(self) -> dict[str, Any]:
        """The definition with secrets masked and URL credentials stripped: safe for pages and logs."""
        data = asdict(self)
        for key in SECRET_KEYS:
            data[key] = "••••••" if data[key] else ""
        data["servers"] = display_servers(self.servers)
        data["monitor_url"] = display_url(self.monitor_url)
        data["schema_registry_url"] = display_url(self.schema_registry_url)
        return data

    def __repr__(self) -> str:
        shown = {k: v for k, v in self.public().items() if k not in SECRET_KEYS}
        return f"ClusterConfig({', '.join(f'{k}={v!r}' for k, v in shown.items())})"


def validate_servers(kind: str, servers: tuple[str, ...], source: str) -> None:
    if not servers:
        raise ClusterConfigError(source, "no servers given")
    for server in servers:
        if kind == "nats":
            parsed = urlparse(server if "://" in server else f"nats://{server}")
            if parsed.scheme not in {"nats", "tls", "ws", "wss"} or not parsed.hostname:
                raise ClusterConfigError(source, f"{display_url(server)!r} is not a nats:// URL")
            try:
                parsed.port  # noqa: B018 - raises on a malformed port
            except ValueError:
                # Not the parser's text: it quotes the "port", which may be the tail of a password.
                raise ClusterConfigError(
                    source, f"the server on host {parsed.hostname!r} has a port that is not a number"
                ) from None
        else:
            host, sep, port = server.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ClusterConfigError(source, f"{display_url(server)!r} is not host:port")


def validate_monitor_url(url: str, source: str) -> None:
    if not url:
        return
    parsed = urlparse(url)
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        raise ClusterConfigError(source, f"{display_url(url)!r} is not an http(s):// URL")


def validate_webhook_url(url: str, source: str) -> None:
    if not url:
        return
    parsed = urlparse(url)
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        raise ClusterConfigError(source, "alert_webhook_url is not an http(s):// URL")


def validate_registry_url(url: str, source: str) -> None:
    if not url:
        return
    parsed = urlparse(url)
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        raise ClusterConfigError(source, f"{display_url(url)!r} is not an http(s):// schema registry URL")


def _flatten_registry(item: dict[str, Any], source: str) -> dict[str, Any]:
    """``schema_registry = {url, username, password, tls_ca_file}`` becomes the flat ``schema_registry_*`` keys."""
    table = item.get("schema_registry")
    if table is None:
        return item
    if not isinstance(table, dict):
        raise ClusterConfigError(source, "schema_registry must be a table {url, username, password}")
    names = {"url": "schema_registry_url", "username": "schema_registry_username"}
    names |= {"password": "schema_registry_password", "tls_ca_file": "schema_registry_ca_file"}
    names |= {"password_file": "schema_registry_password_file"}
    unknown = set(table) - set(names)
    if unknown:
        raise ClusterConfigError(source, f"schema_registry: unknown keys {sorted(unknown)}")
    flat = {k: v for k, v in item.items() if k != "schema_registry"}
    flat.update({names[k]: v for k, v in table.items()})
    return flat


def _split(raw: str | list[str]) -> tuple[str, ...]:
    items = raw if isinstance(raw, list) else raw.split(",")
    return tuple(str(item).strip() for item in items if str(item).strip())


def from_env() -> list[ClusterConfig]:
    found: list[ClusterConfig] = []
    if settings.KAFKA_BOOTSTRAP_SERVERS:
        servers = _split(settings.KAFKA_BOOTSTRAP_SERVERS)
        validate_servers("kafka", servers, "KAFKA_BOOTSTRAP_SERVERS")
        registry_url = getattr(settings, "KAFKA_SCHEMA_REGISTRY_URL", "")
        validate_registry_url(registry_url, "KAFKA_SCHEMA_REGISTRY_URL")
        found.append(
            ClusterConfig(
                slug="kafka",
                kind="kafka",
                name="Kafka",
                servers=servers,
                schema_registry_url=registry_url,
                schema_registry_username=getattr(settings, "KAFKA_SCHEMA_REGISTRY_USERNAME", ""),
                schema_registry_password=getattr(settings, "KAFKA_SCHEMA_REGISTRY_PASSWORD", ""),
                decoders=_env_decoders("KAFKA_DECODERS", "kafka"),
            )
        )
    if settings.NATS_URL:
        servers = _split(settings.NATS_URL)
        validate_servers("nats", servers, "NATS_URL")
        validate_monitor_url(settings.NATS_MONITOR_URL, "NATS_MONITOR_URL")
        found.append(
            ClusterConfig(
                slug="nats",
                kind="nats",
                name="NATS",
                servers=servers,
                monitor_url=settings.NATS_MONITOR_URL,
                decoders=_env_decoders("NATS_DECODERS", "nats"),
            )
        )
    return found


def _env_decoders(name: str, kind: str) -> tuple[DecoderSpec, ...]:
    """The default cluster's local decoders from the file the setting names (``[[decoders]]``)."""
    path = getattr(settings, name, "")
    if not path:
        return ()
    try:
        return _reader().load_file(path, kind=kind)
    except ValueError as exc:
        raise ClusterConfigError(name, str(exc)) from None


def _decoders(item: dict[str, Any], kind: str, slug: str, source: str, base: Path | None) -> tuple[DecoderSpec, ...]:
    if item.get("decoders") is None:
        return ()
    try:
        return _reader().parse(item.get("decoders"), kind=kind, base=base)
    except ValueError as exc:
        raise ClusterConfigError(source, f"cluster {slug!r}: {exc}") from None


def _from_mapping(item: dict[str, Any], source: str, base: Path | None = None) -> ClusterConfig:
    from streams.models import slug_validator

    item = _flatten_registry(item, source)
    slug = str(item.get("slug", ""))
    kind = str(item.get("kind", ""))
    try:
        slug_validator(slug)
    except ValidationError:
        raise ClusterConfigError(source, f"cluster slug {slug!r} is not valid") from None
    if kind not in KINDS:
        raise ClusterConfigError(source, f"cluster {slug!r}: kind must be kafka or nats")
    servers = _split(item.get("servers", item.get("bootstrap_servers", item.get("url", ""))))
    validate_servers(kind, servers, f"{source} ({slug})")
    monitor_url = str(item.get("monitor_url", ""))
    validate_monitor_url(monitor_url, f"{source} ({slug})")
    known = {f for f in ClusterConfig.__dataclass_fields__} - {"slug", "kind", "servers", "source", "decoders"}
    secret_file_keys = {f"{key}_file" for key in SECRET_KEYS}
    unknown = set(item) - known - secret_file_keys - {"slug", "kind", "servers", "bootstrap_servers", "url", "decoders"}
    if unknown:
        raise ClusterConfigError(source, f"cluster {slug!r}: unknown keys {sorted(unknown)}")
    extra = {key: str(item[key]) for key in known if key in item}
    extra.setdefault("name", slug)
    for key in SECRET_KEYS:
        secret_path = item.get(f"{key}_file")
        if secret_path:
            try:
                extra[key] = Path(str(secret_path)).read_text().strip()
            except OSError as exc:
                raise ClusterConfigError(
                    source, f"cluster {slug!r}: cannot read {secret_path}: {exc.strerror}"
                ) from None
    validate_webhook_url(extra.get("alert_webhook_url", ""), f"{source} ({slug})")
    validate_registry_url(extra.get("schema_registry_url", ""), f"{source} ({slug})")
    decoders = _decoders(item, kind, slug, source, base)
    return ClusterConfig(slug=slug, kind=kind, servers=servers, source=source, decoders=decoders, **extra)


def from_file(path: str) -> list[ClusterConfig]:
    """Clusters from a TOML (``[[clusters]]``) or JSON (``{"clusters": [...]}``) file."""
    source = "STREAMDESK_CLUSTERS"
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ClusterConfigError(source, f"cannot read {path}: {exc.strerror}") from None
    try:
        if file.suffix == ".json":
            data = jsontext.loads(raw)
        else:
            data = tomllib.loads(raw.decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ClusterConfigError(source, f"{path} is not valid: {exc}") from None
    items = data.get("clusters") if isinstance(data, dict) else None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ClusterConfigError(source, f"{path} needs a list of tables named 'clusters'")
    return [_from_mapping(item, source, file.resolve().parent) for item in items]


def from_model(cluster: Any) -> ClusterConfig:
    return ClusterConfig(
        slug=cluster.slug,
        kind=cluster.kind,
        name=cluster.name,
        servers=_split(cluster.servers),
        monitor_url=cluster.monitor_url,
        security_protocol=cluster.security_protocol,
        sasl_mechanism=cluster.sasl_mechanism,
        username=cluster.username,
        password=cluster.password,
        token=cluster.token,
        nkey_seed=cluster.nkey_seed,
        creds_file=cluster.creds_file,
        tls_ca_file=cluster.tls_ca_file,
        tls_cert_file=cluster.tls_cert_file,
        tls_key_file=cluster.tls_key_file,
        alert_webhook_url=cluster.alert_webhook_url,
        source="admin",
    )


def static_clusters() -> list[ClusterConfig]:
    """Clusters from env and file (no database); raises ClusterConfigError when malformed."""
    found = from_env()
    if settings.STREAMDESK_CLUSTERS:
        taken = {c.slug for c in found}
        for config in from_file(settings.STREAMDESK_CLUSTERS):
            if config.slug in taken:
                raise ClusterConfigError(
                    "STREAMDESK_CLUSTERS", f"cluster slug {config.slug!r} is defined twice (the environment sets it)"
                )
            taken.add(config.slug)
            found.append(config)
    return found


def load_all() -> list[ClusterConfig]:
    """Every configured cluster; env and file win over an admin row with the same slug."""
    from streams.models import Cluster

    found = {c.slug: c for c in static_clusters()}
    for row in Cluster.objects.filter(enabled=True):
        found.setdefault(row.slug, from_model(row))
    return sorted(found.values(), key=lambda c: (c.kind, c.slug))
