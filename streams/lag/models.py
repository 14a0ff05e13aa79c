"""Sampled lag: one row per sweep of a cluster, one small row per sampled partition or JetStream consumer.

A sweep row stands for one sampling of one cluster at one time; a failed sweep has an ``error`` and no samples,
so an outage reads as a gap, never as zeros. A series names what is sampled (a Kafka group's partition, or a
JetStream consumer); a sample holds only numbers and points at its sweep (the time) and its series (the names).
Samples older than the raw retention are folded into 5-minute rollups. ``LagStatus`` is the latest evaluation
of every group and consumer (Burrow's rules), brought up to date after each sweep, which the pages, ``/metrics`` and the
alerts read.
"""

from __future__ import annotations

from django.db import models

MAX_NAME = 500  # longer group, topic, stream or consumer names are not sampled


class LagSweep(models.Model):
    """One sampling of one cluster. ``sweeps_total``/``errors_total`` count every sweep so far (Prometheus
    counters that survive retention), carried forward from the previous row."""

    cluster = models.CharField(max_length=50)
    kind = models.CharField(max_length=10)
    at = models.DateTimeField()
    duration_ms = models.FloatField(default=0.0)
    error = models.TextField(blank=True)
    warning = models.TextField(blank=True)
    subjects = models.IntegerField(default=0)
    rows = models.IntegerField(default=0)
    sweeps_total = models.BigIntegerField(default=1)
    errors_total = models.BigIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["cluster", "at"], name="lag_sweep_cluster_at")]

    def __str__(self) -> str:
        return f"{self.cluster} at {self.at:%Y-%m-%d %H:%M:%S}{' (failed)' if self.error else ''}"

    @property
    def ok(self) -> bool:
        return not self.error


class LagSeries(models.Model):
    """What one sample row is about. Kafka: ``consumer`` is the group id, ``source`` the topic, ``partition`` the
    partition. JetStream: ``consumer`` is the consumer's name, ``source`` its stream, ``partition`` 0."""

    cluster = models.CharField(max_length=50)
    kind = models.CharField(max_length=10)
    consumer = models.CharField(max_length=MAX_NAME)
    source = models.CharField(max_length=MAX_NAME)
    partition = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["cluster", "kind", "consumer", "source", "partition"], name="lag_series_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.cluster}: {self.consumer} on {self.source}[{self.partition}]"


class LagSample(models.Model):
    """One series at one sweep. Kafka: ``committed`` offset and the partition's ``end_offset`` (None when it was
    not read). JetStream: ``committed`` is the ack floor's stream sequence, with ``pending`` and ``ack_pending``."""

    sweep = models.ForeignKey(LagSweep, on_delete=models.CASCADE, related_name="+")
    series = models.ForeignKey(LagSeries, on_delete=models.CASCADE, related_name="+", db_index=False)
    committed = models.BigIntegerField(null=True)
    end_offset = models.BigIntegerField(null=True)
    pending = models.BigIntegerField(null=True)
    ack_pending = models.BigIntegerField(null=True)

    class Meta:
        indexes = [models.Index(fields=["series", "sweep"], name="lag_sample_series_sweep")]


class LagRollup(models.Model):
    """The samples of one series in one bucket (``t`` is its start): the highest offsets and counts seen in it,
    the highest lag, and how many samples it folds."""

    series = models.ForeignKey(LagSeries, on_delete=models.CASCADE, related_name="+", db_index=False)
    t = models.DateTimeField()
    committed = models.BigIntegerField(null=True)
    end_offset = models.BigIntegerField(null=True)
    pending = models.BigIntegerField(null=True)
    ack_pending = models.BigIntegerField(null=True)
    lag_max = models.BigIntegerField(null=True)
    samples = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["series", "t"], name="lag_rollup_unique")]
        indexes = [models.Index(fields=["t"], name="lag_rollup_t")]


class LagStatus(models.Model):
    """The latest evaluation of one Kafka group (``stream`` blank) or JetStream consumer. ``at`` is the sweep that
    last changed the row (a sweep that finds it the same leaves it alone: the cluster's last successful
    ``LagSweep`` says when it was last confirmed); ``since`` is when it entered this status; ``alerted_at`` when
    the webhook was last told."""

    class Status(models.TextChoices):
        NOTFOUND = "NOTFOUND"
        OK = "OK"
        WARN = "WARN"
        ERR = "ERR"

    cluster = models.CharField(max_length=50)
    kind = models.CharField(max_length=10)
    stream = models.CharField(max_length=MAX_NAME, blank=True)
    consumer = models.CharField(max_length=MAX_NAME)
    status = models.CharField(max_length=10, choices=Status.choices)
    severity = models.SmallIntegerField()
    complete = models.FloatField()
    total_lag = models.BigIntegerField(null=True)
    lag_unknown = models.IntegerField(default=0)
    partitions = models.IntegerField(default=0)
    uncommitted = models.IntegerField(default=0)
    ack_pending = models.BigIntegerField(null=True)
    topics = models.JSONField(default=list)
    at = models.DateTimeField()
    since = models.DateTimeField()
    alerted_at = models.DateTimeField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["cluster", "kind", "stream", "consumer"], name="lag_status_unique")
        ]
        indexes = [models.Index(fields=["cluster", "-severity", "-total_lag"], name="lag_status_rank")]

    def __str__(self) -> str:
        return f"{self.cluster}: {self.stream + '/' if self.stream else ''}{self.consumer} {self.status}"
