"""Persistent state: clusters defined in the admin, API tokens and the audit trail."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

slug_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9-]{0,49}$", "lowercase letters, digits and dashes, starting with a letter or digit"
)


class Cluster(models.Model):
    """A broker connection defined in the admin. Env/file clusters are not stored here."""

    class Kind(models.TextChoices):
        KAFKA = "kafka", "Kafka"
        NATS = "nats", "NATS"

    slug = models.CharField(max_length=50, unique=True, validators=[slug_validator])
    kind = models.CharField(max_length=10, choices=Kind.choices)
    name = models.CharField(max_length=100)
    enabled = models.BooleanField(default=True)
    servers = models.CharField(
        max_length=1000,
        help_text="Kafka: bootstrap servers host:port,host:port. NATS: nats://host:port,...",
    )
    monitor_url = models.CharField(
        max_length=500, blank=True, help_text="NATS HTTP monitoring URL, e.g. http://host:8222"
    )
    # Kafka auth
    security_protocol = models.CharField(
        max_length=20,
        blank=True,
        choices=[
            ("PLAINTEXT", "PLAINTEXT"),
            ("SSL", "SSL"),
            ("SASL_PLAINTEXT", "SASL_PLAINTEXT"),
            ("SASL_SSL", "SASL_SSL"),
        ],
    )
    sasl_mechanism = models.CharField(
        max_length=20,
        blank=True,
        choices=[
            ("PLAIN", "PLAIN"),
            ("SCRAM-SHA-256", "SCRAM-SHA-256"),
            ("SCRAM-SHA-512", "SCRAM-SHA-512"),
        ],
    )
    username = models.CharField(max_length=200, blank=True, help_text="SASL or NATS user")
    password = models.CharField(max_length=500, blank=True, help_text="SASL or NATS password")
    # NATS auth
    token = models.CharField(max_length=500, blank=True)
    nkey_seed = models.CharField(max_length=500, blank=True)
    creds_file = models.CharField(max_length=500, blank=True)
    # TLS (both kinds)
    tls_ca_file = models.CharField(max_length=500, blank=True)
    tls_cert_file = models.CharField(max_length=500, blank=True)
    tls_key_file = models.CharField(max_length=500, blank=True)
    # Lag alerts: status changes to WARN/ERR are posted here (JSON). A secret: chat webhooks carry their token.
    alert_webhook_url = models.CharField(
        max_length=1000, blank=True, help_text="Lag alerts: status changes to WARN/ERR are POSTed here as JSON."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    SECRET_FIELDS = ("password", "token", "nkey_seed", "alert_webhook_url")

    class Meta:
        ordering = ["slug"]
        permissions = [
            ("read_brokers", "Can inspect brokers"),
            ("operate_brokers", "Can change broker state (publish, delete, reset, pause)"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"


def _hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A bearer token; only its SHA-256 is stored, the raw value is shown once.

    It may expire (``expires_at``) and may be read-only: it then reads like its user
    but every write is refused, whatever its user's role.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=8, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    read_only = models.BooleanField(default=False, help_text="Reads only: every write is refused.")

    PREFIX = "sdk_"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @classmethod
    def issue(
        cls, user: object, name: str = "", *, expires_at: datetime | None = None, read_only: bool = False
    ) -> tuple[ApiToken, str]:
        raw = cls.PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user,
            name=name,
            prefix=raw[:8],
            key_hash=_hash_token(raw),
            expires_at=expires_at,
            read_only=read_only,
        )
        return token, raw

    @classmethod
    def hash(cls, raw: str) -> str:
        return _hash_token(raw)


class AuditEvent(models.Model):
    """Who did what to which broker object, when, and how it ended."""

    class Result(models.TextChoices):
        OK = "ok", "ok"
        ERROR = "error", "error"
        DENIED = "denied", "denied"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    username = models.CharField(max_length=150)
    action = models.CharField(max_length=100, db_index=True)
    cluster = models.CharField(max_length=50, blank=True)
    target = models.CharField(max_length=500, blank=True)
    params = models.JSONField(default=dict, blank=True)
    result = models.CharField(max_length=10, choices=Result.choices)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.username} {self.action} {self.target} {self.result}"


from streams.lag.models import LagRollup, LagSample, LagSeries, LagStatus, LagSweep  # noqa: E402, F401
from streams.publish.models import MessageTemplate, PublishJob  # noqa: E402, F401 - models live with their capability
from streams.search.models import Search, SearchResult  # noqa: E402, F401 - models live with their capability
from streams.workers.models import ConsumerInstance, ManagedConsumer  # noqa: E402, F401 - models live with their capability


def _lines(text: str) -> list[str]:
    return [part.strip() for line in text.splitlines() for part in line.split(",") if part.strip()]


class Policy(models.Model):
    """A policy kept in the admin, merged with those of ``STREAMDESK_POLICIES`` (streams.policies).

    Lists are kept as text, one glob a line (or comma-separated), as an admin types them; a
    resource type left empty is not covered by the policy.
    """

    RESOURCE_FIELDS = (
        "topics",
        "consumer_groups",
        "subjects",
        "streams",
        "kv_buckets",
        "object_buckets",
        "schema_subjects",
        "workers",
    )

    name = models.CharField(max_length=100, unique=True)
    enabled = models.BooleanField(default=True)
    groups = models.TextField(help_text="The names of the groups it applies to, one a line.")
    clusters = models.TextField(default="*", help_text="Cluster slugs or globs (* and ?), one a line.")
    actions = models.JSONField(default=list, blank=True)
    topics = models.TextField(blank=True, help_text="Globs, one a line; empty: not covered. * covers all.")
    consumer_groups = models.TextField(blank=True)
    subjects = models.TextField(blank=True, help_text="NATS subjects.")
    streams = models.TextField(blank=True, help_text="JetStream streams (and their consumers).")
    kv_buckets = models.TextField(blank=True)
    object_buckets = models.TextField(blank=True)
    schema_subjects = models.TextField(blank=True)
    workers = models.TextField(blank=True, help_text="Managed consumers, by name.")
    cluster = models.BooleanField(
        default=False, help_text="The cluster-level pages: brokers, ACLs, broker configs, server, connections."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "policies"

    def __str__(self) -> str:
        return self.name

    def as_mapping(self) -> dict[str, object]:
        """The row as a policies-file table, so that one reader checks both."""
        data: dict[str, object] = {
            "name": self.name,
            "groups": _lines(self.groups),
            "clusters": _lines(self.clusters),
            "actions": list(self.actions or []),
            "cluster": self.cluster,
        }
        for kind in self.RESOURCE_FIELDS:
            globs = _lines(getattr(self, kind))
            if globs:
                data[kind] = globs
        return data
