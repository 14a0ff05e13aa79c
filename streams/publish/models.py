"""Saved messages (templates) and bulk publish jobs."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models


class Target(models.TextChoices):
    KAFKA = "kafka", "Kafka topic"
    NATS = "nats", "NATS subject"


class MessageTemplate(models.Model):
    """A message kept for the team to send again: the target and every publish field."""

    name = models.CharField(max_length=100)
    cluster = models.CharField(max_length=50)
    kind = models.CharField(max_length=10, choices=Target.choices)
    target = models.CharField(max_length=1024, help_text="Topic (Kafka) or subject (NATS)")
    fields = models.JSONField(default=dict, help_text="key, value, encoding, headers, partition, mode, timeout, msg_id")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["cluster", "name"]
        constraints = [models.UniqueConstraint(fields=["cluster", "name"], name="unique_template_name_per_cluster")]

    def __str__(self) -> str:
        return f"{self.name} ({self.cluster}: {self.target})"

    def as_api(self) -> dict[str, Any]:
        return {
            "id": self.pk,
            "name": self.name,
            "cluster": self.cluster,
            "kind": self.kind,
            "target": self.target,
            **self.fields,
            "created_by": self.created_by.get_username() if self.created_by else None,
            "updated_at": self.updated_at,
        }


class PublishJob(models.Model):
    """A bulk publish: its spec, and its progress as the Celery task reports it."""

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"
        CANCELLED = "cancelled"

    FINISHED = (State.DONE, State.FAILED, State.CANCELLED)

    kind = models.CharField(max_length=10, choices=Target.choices)
    cluster = models.CharField(max_length=50)
    target = models.CharField(max_length=1024)
    spec = models.JSONField(default=dict)
    total = models.PositiveIntegerField()
    rate = models.FloatField(null=True, blank=True, help_text="Messages per second at most; empty: as fast as it goes")
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED, db_index=True)
    sent = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"job {self.pk}: {self.total} to {self.cluster}/{self.target} ({self.state})"

    @property
    def finished(self) -> bool:
        return self.state in self.FINISHED

    @property
    def elapsed_s(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or self.updated_at
        return max((end - self.started_at).total_seconds(), 0.0)

    @property
    def current_rate(self) -> float | None:
        elapsed = self.elapsed_s
        return round(self.sent / elapsed, 1) if elapsed else None

    @property
    def eta_s(self) -> float | None:
        rate = self.current_rate
        if self.finished or not rate:
            return None
        return round((self.total - self.sent - self.failed) / rate, 1)

    @property
    def percent(self) -> int:
        return int(100 * (self.sent + self.failed) / self.total) if self.total else 100

    def as_api(self) -> dict[str, Any]:
        return {
            "id": self.pk,
            "kind": self.kind,
            "cluster": self.cluster,
            "target": self.target,
            "state": self.state,
            "total": self.total,
            "sent": self.sent,
            "failed": self.failed,
            "error": self.error or None,
            "rate": self.current_rate,
            "rate_limit": self.rate,
            "eta_s": self.eta_s,
            "created_by": self.created_by.get_username() if self.created_by else None,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }
