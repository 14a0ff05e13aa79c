"""Managed consumers: their definitions (desired state included) and the instances running them.

A ``ManagedConsumer`` is what an operator asks for; every ``runconsumers`` process that runs
it writes one ``ConsumerInstance`` row, its heartbeat and counters, every second. The state
the console shows is derived from both (``streams.workers.state``).
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

worker_name_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$", "letters, digits, '.', '_' and '-', starting with a letter or digit"
)


class ManagedConsumer(models.Model):
    """One consumer Streamdesk runs: its source, its handler, and how it should be running."""

    class SourceKind(models.TextChoices):
        TOPIC = "topic", "Kafka topic"
        STREAM = "stream", "JetStream stream"

    class Start(models.TextChoices):
        EARLIEST = "earliest"
        LATEST = "latest"

    class Desired(models.TextChoices):
        RUNNING = "running"
        PAUSED = "paused"
        STOPPED = "stopped"

    name = models.CharField(max_length=100, unique=True, validators=[worker_name_validator])
    cluster = models.CharField(max_length=50, help_text="Slug of the Kafka or NATS cluster read from")
    source_kind = models.CharField(max_length=10, choices=SourceKind.choices)
    source = models.CharField(max_length=255, help_text="Kafka topic or JetStream stream")
    group = models.CharField(max_length=255, help_text="Kafka group id, or the JetStream durable consumer's name")
    filter_subject = models.CharField(max_length=1024, blank=True, help_text="JetStream only: a subject filter")
    handler = models.CharField(max_length=100)
    config = models.JSONField(default=dict, blank=True, help_text="The handler's config, checked against its schema")
    start = models.CharField(
        max_length=10, choices=Start.choices, default=Start.LATEST, help_text="Where a new group/durable begins"
    )
    batch_size = models.PositiveIntegerField(default=500, help_text="Messages fetched and committed together")
    concurrency = models.PositiveIntegerField(
        default=1,
        help_text="Handler calls at once within a batch: Kafka partitions handled in parallel (each partition in "
        "order), or JetStream subjects handled in parallel (each subject in order)",
    )
    max_retries = models.PositiveIntegerField(default=3, help_text="Retries of a failing message before dead-letter")
    retry_backoff_ms = models.PositiveIntegerField(default=200, help_text="First retry's pause; doubles each time")
    retry_backoff_max_ms = models.PositiveIntegerField(default=10_000, help_text="Longest pause between retries")
    dead_letter = models.JSONField(
        null=True, blank=True, help_text='{"cluster", "topic"} or {"cluster", "subject"}; empty: stop on failure'
    )
    desired = models.CharField(max_length=10, choices=Desired.choices, default=Desired.RUNNING, db_index=True)
    generation = models.PositiveIntegerField(default=1, help_text="Bumped by edits and restarts: clients re-created")
    pause_mode = models.CharField(
        max_length=10, blank=True, help_text="How the last pause was applied: server (JetStream API) or client"
    )
    # Cumulative counters: every runner adds what it did since its last heartbeat.
    processed = models.BigIntegerField(default=0)
    failed = models.BigIntegerField(default=0)
    dead_lettered = models.BigIntegerField(default=0)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_error_origin = models.JSONField(null=True, blank=True, help_text="Where the failing message came from")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.cluster}/{self.source} -> {self.handler})"

    @property
    def durable(self) -> str:
        """On a stream, the JetStream durable's name: ``group`` holds it, the field both brokers' consumers share."""
        return self.group


class ConsumerInstance(models.Model):
    """One runconsumers process running one managed consumer, as its heartbeats tell it."""

    class State(models.TextChoices):
        STARTING = "starting"
        RUNNING = "running"
        PAUSED = "paused"
        FAILING = "failing"
        STOPPING = "stopping"
        STOPPED = "stopped"
        LOST = "lost"

    GONE = (State.STOPPED, State.LOST)

    consumer = models.ForeignKey(ManagedConsumer, on_delete=models.CASCADE, related_name="instances")
    instance_id = models.CharField(max_length=120, help_text="host-pid-random of the runconsumers process")
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField(db_index=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.STARTING)
    assignment = models.JSONField(default=list, blank=True, help_text="Kafka: [[topic, partition], ...]")
    processed = models.BigIntegerField(default=0)
    failed = models.BigIntegerField(default=0)
    dead_lettered = models.BigIntegerField(default=0)
    rate = models.FloatField(default=0.0, help_text="Messages handled per second, last heartbeat interval")
    rates = models.JSONField(default=list, blank=True, help_text="Recent rates, oldest first (the sparkline)")
    latency_ms = models.FloatField(null=True, blank=True, help_text="Mean handler time, last heartbeat interval")
    last_error = models.TextField(blank=True)
    last_error_origin = models.JSONField(null=True, blank=True)
    generation = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["consumer", "instance_id"]
        constraints = [models.UniqueConstraint(fields=["consumer", "instance_id"], name="unique_instance_per_consumer")]

    def __str__(self) -> str:
        return f"{self.consumer_id}@{self.instance_id} ({self.state})"
