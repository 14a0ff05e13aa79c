"""A search: its parameters, its progress as the Celery task reports it, and the matches it kept."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models


class Search(models.Model):
    class State(models.TextChoices):
        RUNNING = "running"
        DONE = "done"
        CANCELLED = "cancelled"
        FAILED = "failed"

    FINISHED = (State.DONE, State.CANCELLED, State.FAILED)

    cluster = models.CharField(max_length=50)
    kind = models.CharField(max_length=10, default="kafka")
    target = models.CharField(max_length=1024, help_text="Topic (Kafka) or stream (JetStream)")
    params = models.JSONField(default=dict)
    # The range fixed at the start: {partition: [start, end)} as {"0": [s, e], ...}.
    ranges = models.JSONField(default=dict)
    state = models.CharField(max_length=10, choices=State.choices, default=State.RUNNING)
    scanned = models.BigIntegerField(default=0)
    matched = models.BigIntegerField(default=0)
    total = models.BigIntegerField(default=0, help_text="Offsets in the range, for the fraction done")
    rate = models.FloatField(default=0.0)
    error = models.TextField(blank=True, default="")
    cancel_requested = models.BooleanField(default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    @property
    def progress(self) -> float:
        if self.state == self.State.DONE:
            return 1.0
        if self.total <= 0:
            return 0.0
        return min(1.0, self.scanned / self.total)

    def as_api(self) -> dict[str, Any]:
        return {
            "id": self.pk,
            "cluster": self.cluster,
            "kind": self.kind,
            "target": self.target,
            # The masking rules a masked search carries are for its Celery worker, not for its reader.
            "params": {k: v for k, v in self.params.items() if k != "mask"},
            "state": self.state,
            "scanned": self.scanned,
            "matched": self.matched,
            "progress": round(self.progress, 4),
            "rate": round(self.rate, 1),
            "error": self.error or None,
        }


class SearchResult(models.Model):
    """One kept match, in the API's message shape (at most the search's ``limit`` of them)."""

    search = models.ForeignKey(Search, on_delete=models.CASCADE, related_name="results")
    index = models.IntegerField()
    message = models.JSONField()

    class Meta:
        ordering = ["search", "index"]
        constraints = [models.UniqueConstraint(fields=["search", "index"], name="unique_search_result_index")]
