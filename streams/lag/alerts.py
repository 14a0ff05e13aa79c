"""Status changes: the latest status of every group and consumer, an audit event per change, and the webhook.

After each successful sweep the cluster's ``LagStatus`` rows are made those of the new evaluation, carrying over
since when each status holds and when its alert was last sent; only the rows that differ are written (new subjects
inserted, gone ones deleted, changed ones updated), so a row's ``at`` is the sweep that last changed it. Every
change is an ``AuditEvent`` (``lag.status.change``, by "system"), except a subject first seen as OK; a subject that
disappears changes to NOTFOUND. Subjects in WARN or ERR are posted to the cluster's webhook (its
``alert_webhook_url``, else ``STREAMDESK_LAG_WEBHOOK_URL``) when they enter that status, and again every
``STREAMDESK_LAG_ALERT_RESEND_SECONDS`` while they stay (0: never again): one JSON POST per cluster and sweep, at
most ``MAX_ALERTS_PER_POST`` alerts in it, the rest in the next sweep. A failed POST is retried at the next sweep
and leaves an audit event (``lag.alert.webhook``, result error).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.conf import settings
from django.db import transaction

from streams.audit import SYSTEM
from streams.clusters import ClusterConfig
from streams.lag import bulk
from streams.lag.evaluate import KAFKA, Evaluation, SubjectKey
from streams.lag.models import LagStatus
from streams.models import AuditEvent

logger = logging.getLogger("streams.lag")

STATUS_CHANGE = "lag.status.change"
WEBHOOK_SEND = "lag.alert.webhook"
SEVERITY = {"NOTFOUND": 0, "OK": 1, "WARN": 2, "ERR": 3}
ALERTING = frozenset({"WARN", "ERR"})
MAX_ALERTS_PER_POST = 500
INSERT_BATCH = 5000
STATUS_FIELDS = tuple(f.attname for f in LagStatus._meta.concrete_fields if not f.primary_key)
COMPARED = tuple(name for name in STATUS_FIELDS if name != "at")


def label(kind: str, stream: str, consumer: str) -> str:
    return consumer if kind == KAFKA else f"{stream}/{consumer}"


@dataclass(frozen=True)
class Change:
    kind: str
    stream: str
    consumer: str
    before: str
    after: str
    total_lag: int | None

    def event(self, cluster: str, at: datetime) -> AuditEvent:
        target = label(self.kind, self.stream, self.consumer)
        lag = "" if self.total_lag is None else f" (lag {self.total_lag})"
        return AuditEvent(
            username=SYSTEM,
            action=STATUS_CHANGE,
            cluster=cluster,
            target=target[:500],
            params={
                "kind": self.kind,
                "stream": self.stream or None,
                "consumer": self.consumer,
                "from": self.before,
                "to": self.after,
                "total_lag": self.total_lag,
                "sampled_at": at.isoformat(),
            },
            result=AuditEvent.Result.OK,
            message=f"{target}: {self.before} -> {self.after}{lag}"[:2000],
        )


def _fields(config: ClusterConfig, ev: Evaluation, previous: LagStatus | None, at: datetime) -> dict[str, Any]:
    same = previous is not None and previous.status == ev.status
    return {
        "cluster": config.slug,
        "kind": ev.kind,
        "stream": ev.stream,
        "consumer": ev.consumer,
        "status": ev.status,
        "severity": SEVERITY[ev.status],
        "complete": ev.group.complete,
        "total_lag": ev.total_lag,
        "lag_unknown": ev.lag_unknown,
        "partitions": len(ev.group.partitions),
        "uncommitted": ev.uncommitted,
        "ack_pending": ev.ack_pending,
        "topics": list(ev.topics),
        "at": at,
        "since": previous.since if same and previous is not None else at,
        "alerted_at": previous.alerted_at if same and previous is not None else None,
    }


def _row(config: ClusterConfig, ev: Evaluation, previous: LagStatus | None, at: datetime) -> LagStatus:
    """The subject's row after this sweep: the stored one itself when nothing but ``at`` would change (it is
    not rewritten), else a new one (with the stored row's primary key, if any)."""
    values = _fields(config, ev, previous, at)
    if previous is not None and all(values[name] == getattr(previous, name) for name in COMPARED):
        return previous
    row = LagStatus(**values)
    if previous is not None:
        row.pk = previous.pk
    return row


def webhook_url(config: ClusterConfig) -> str:
    return config.alert_webhook_url or settings.LAG_WEBHOOK_URL


def alert_body(config: ClusterConfig, due: list[LagStatus], more: int, at: datetime) -> dict[str, Any]:
    alerts = [
        {
            "kind": row.kind,
            "group": row.consumer if row.kind == KAFKA else None,
            "stream": row.stream or None,
            "consumer": row.consumer if row.kind != KAFKA else None,
            "status": row.status,
            "since": row.since.isoformat(),
            "total_lag": row.total_lag,
            "complete": row.complete,
            "resend": row.alerted_at is not None,
        }
        for row in due
    ]
    names = ", ".join(f"{label(r.kind, r.stream, r.consumer)} {r.status}" for r in due[:10])
    extra = len(due) - 10 + more
    text = f"Streamdesk lag on {config.name}: {names}" + (f" and {extra} more" if extra > 0 else "")
    return {
        "source": "streamdesk",
        "cluster": config.slug,
        "cluster_name": config.name,
        "at": at.isoformat(),
        "text": text,
        "alerts": alerts,
        "more": more,
    }


def post(url: str, body: dict[str, Any]) -> str | None:
    """POST the alerts; None when the receiver took them, else why not."""
    try:
        response = httpx.post(url, json=body, timeout=settings.LAG_WEBHOOK_TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        # The URL is a secret (chat webhooks carry their token in it): never in a message.
        reason = str(exc).replace(url, "<webhook URL>")
        return f"{exc.__class__.__name__}: {reason}" if reason else exc.__class__.__name__
    if response.is_success:
        return None
    return f"HTTP {response.status_code}"


def _due(rows: list[LagStatus], at: datetime) -> list[LagStatus]:
    resend = settings.LAG_ALERT_RESEND_SECONDS
    return [
        row
        for row in rows
        if row.status in ALERTING
        and (row.alerted_at is None or (resend > 0 and at - row.alerted_at >= timedelta(seconds=resend)))
    ]


def _values(row: LagStatus) -> list[Any]:
    return [getattr(row, name) for name in STATUS_FIELDS]


def apply(config: ClusterConfig, evaluations: dict[SubjectKey, Evaluation], at: datetime) -> int:
    """Make the cluster's statuses those of ``evaluations`` (writing only the rows that differ), audit the changes,
    alert; the number of changes."""
    old = {(r.stream, r.consumer): r for r in LagStatus.objects.filter(cluster=config.slug)}
    rows: list[LagStatus] = []
    changes: list[Change] = []
    for key, ev in evaluations.items():
        previous = old.get(key)
        before = previous.status if previous else "NOTFOUND"
        if before != ev.status and not (previous is None and ev.status == "OK"):
            changes.append(Change(ev.kind, ev.stream, ev.consumer, before, ev.status, ev.total_lag))
        rows.append(_row(config, ev, previous, at))
    for key, previous in old.items():
        if key not in evaluations:
            changes.append(Change(previous.kind, previous.stream, previous.consumer, previous.status, "NOTFOUND", None))
    events = [change.event(config.slug, at) for change in changes]

    kept = {id(row) for row in rows if row is old.get((row.stream, row.consumer))}
    url = webhook_url(config)
    due = _due(rows, at)
    if url and due:
        sending = due[:MAX_ALERTS_PER_POST]
        failure = post(url, alert_body(config, sending, len(due) - len(sending), at))
        if failure is None:
            for row in sending:
                row.alerted_at = at
                if id(row) in kept:  # a stored row that held: it changes now
                    row.at = at
                    kept.discard(id(row))
        else:
            logger.warning("lag alerts of %s not delivered: %s", config.slug, failure)
        events.append(
            AuditEvent(
                username=SYSTEM,
                action=WEBHOOK_SEND,
                cluster=config.slug,
                target="webhook",
                params={"alerts": len(sending), "more": len(due) - len(sending)},
                result=AuditEvent.Result.ERROR if failure else AuditEvent.Result.OK,
                message=(f"not delivered: {failure}" if failure else f"{len(sending)} alert(s) delivered")[:2000],
            )
        )

    fresh = [row for row in rows if row.pk is None]
    changed = [row for row in rows if row.pk is not None and id(row) not in kept]
    with transaction.atomic():
        bulk.delete(LagStatus, [previous.pk for key, previous in old.items() if key not in evaluations])
        bulk.update(LagStatus, STATUS_FIELDS, ([*_values(row), row.pk] for row in changed))
        bulk.insert(LagStatus, STATUS_FIELDS, (_values(row) for row in fresh))
        AuditEvent.objects.bulk_create(events, batch_size=INSERT_BATCH)
    return len(changes)
