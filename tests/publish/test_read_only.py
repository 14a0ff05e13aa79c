"""Read-only mode and publishing: nothing new goes to a broker, saved messages stay as they are,
but an operator can still cancel a bulk job."""

from __future__ import annotations

import pytest
from django.test import Client

from streams.models import AuditEvent
from streams.publish.models import MessageTemplate, PublishJob, Target
from tests.publish.helpers import job_answers, start_job

REFUSED = "Streamdesk runs read-only (STREAMDESK_READ_ONLY); writes are switched off."


def queued(unique: str) -> PublishJob:
    return PublishJob.objects.create(kind=Target.NATS, cluster="nats", target=f"{unique}.x", spec={}, total=5)


def test_an_operator_cancels_a_queued_job_in_read_only_mode(operator_client, viewer, settings, unique):
    settings.READ_ONLY = True
    by_api, by_form = queued(unique), queued(unique)
    page = operator_client.get(f"/jobs/{by_api.pk}").content.decode()
    assert "Cancel</button>" in page
    response = operator_client.post(f"/api/v1/jobs/{by_api.pk}/cancel")
    assert response.status_code == 202, response.content
    assert response.json()["state"] == "cancelled"
    form = operator_client.post(f"/jobs/{by_form.pk}/cancel")
    assert form.status_code == 302 and form["Location"] == f"/jobs/{by_form.pk}"
    assert PublishJob.objects.get(pk=by_form.pk).state == "cancelled"
    assert "Cancel</button>" not in operator_client.get(f"/jobs/{by_form.pk}").content.decode()
    events = list(AuditEvent.objects.values_list("action", "result"))
    assert events == [("publish.job.cancel", "ok"), ("publish.job.cancel", "ok")]

    # Stopping things is for operators still.
    viewer_client = Client()
    viewer_client.force_login(viewer)
    other = queued(unique)
    assert viewer_client.post(f"/api/v1/jobs/{other.pk}/cancel").status_code == 403
    assert "Cancel</button>" not in viewer_client.get(f"/jobs/{other.pk}").content.decode()
    assert PublishJob.objects.get(pk=other.pk).state == "queued"


@pytest.mark.django_db(transaction=True)
@pytest.mark.xdist_group("celery")
@pytest.mark.slow
def test_a_running_job_is_cancelled_after_read_only_is_switched_on(celery_worker, operator_client, settings, unique):
    job = start_job(
        operator_client,
        "/api/v1/clusters/nats/publish",
        {"subject": f"{unique}.slow", "value": "{{i}}", "count": 100_000, "rate": 100},
    )
    job_answers(operator_client, job, ("running",), sending=True)
    settings.READ_ONLY = True
    assert operator_client.post(f"/api/v1/jobs/{job}/cancel").status_code == 202
    final = job_answers(operator_client, job, ("cancelled", "done", "failed"))[-1]
    assert final["state"] == "cancelled" and 0 < final["sent"] < 100_000


def test_saving_and_deleting_messages_and_starting_jobs_are_refused(operator_client, operator, settings, unique):
    kept = MessageTemplate.objects.create(cluster="kafka", name="kept", kind=Target.KAFKA, target=unique, fields={})
    settings.READ_ONLY = True
    body = {"name": "new", "cluster": "kafka", "target": unique, "value": "v"}
    saved = operator_client.post("/api/v1/templates", body, content_type="application/json")
    assert saved.status_code == 403 and saved.json() == {"error": REFUSED, "field": None}
    page = operator_client.post("/templates", body)
    assert page.status_code == 403 and REFUSED in page.content.decode()
    assert operator_client.delete(f"/api/v1/templates/{kept.pk}").status_code == 403
    assert operator_client.post(f"/templates/{kept.pk}/delete").status_code == 403
    assert list(MessageTemplate.objects.values_list("name", flat=True)) == ["kept"]
    bulk = operator_client.post(
        "/api/v1/clusters/nats/publish",
        {"subject": f"{unique}.x", "value": "v", "count": 5},
        content_type="application/json",
    )
    assert bulk.status_code == 403 and bulk.json()["error"] == REFUSED
    assert not PublishJob.objects.exists()
    assert set(AuditEvent.objects.values_list("result", flat=True)) == {"denied"}
