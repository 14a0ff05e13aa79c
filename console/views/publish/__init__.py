"""Publishing test messages: Kafka topics, NATS subjects (publish, request-reply, JetStream),
bulk jobs with their progress, and saved messages.

The same handler answers the API and the page's form; a page POST renders what the
broker answered in place (``console.web.endpoint(form=...)``).
"""

from __future__ import annotations

from django.urls import URLPattern, reverse

from console.resources import JOB, SCHEMA_LIST, SUBJECT_PUBLISH, TEMPLATE, TOPIC_PUBLISH
from console.views.publish import jobs, kafka, nats, saved, schema
from console.web import action, endpoint

C = "clusters/<slug:cluster>"

urlpatterns: list[URLPattern] = [
    *endpoint(
        f"{C}/topics/<str:topic>/publish",
        name="kafka-publish",
        resource=TOPIC_PUBLISH,
        kind="kafka",
        template="publish/kafka.html",
        form="publish/_outcome.html",
        page={"nav": "kafka"},
        get=kafka.kafka_form,
        post=kafka.kafka_publish,
    ),
    *endpoint(
        f"{C}/publish/schema",
        name="publish-schema",
        resource=SCHEMA_LIST,
        template="publish/_schema.html",
        get=schema.schema_panel,
    ),
    *endpoint(
        f"{C}/publish",
        name="nats-publish",
        resource=SUBJECT_PUBLISH,
        kind="nats",
        template="publish/nats.html",
        form="publish/_outcome.html",
        page={"nav": "nats", "tab": "publish"},
        get=nats.nats_form,
        post=nats.nats_publish,
    ),
    *endpoint(
        "jobs",
        name="jobs",
        resource=JOB,
        template="publish/jobs.html",
        partial="publish/_jobs.html",
        get=jobs.jobs_list,
    ),
    *endpoint(
        "jobs/<int:job>",
        name="job",
        resource=JOB,
        template="publish/job.html",
        partial="publish/_job.html",
        get=jobs.job_detail,
    ),
    *endpoint("jobs/<int:job>/cancel", name="job-cancel", resource=JOB, post=jobs.job_cancel),
    *action(
        "jobs/<int:job>/cancel",
        name="job-cancel",
        resource=JOB,
        handler=jobs.job_cancel,
        redirect=lambda ctx, data: reverse("job", args=[ctx.args["job"]]),
    ),
    *endpoint(
        "templates",
        name="templates",
        resource=TEMPLATE,
        template="publish/templates.html",
        form="publish/_saved.html",
        get=saved.templates_list,
        post=saved.template_save,
    ),
    *endpoint("templates/<int:template>", name="template", resource=TEMPLATE, delete=saved.template_delete),
    *action(
        "templates/<int:template>/delete",
        name="template-delete",
        resource=TEMPLATE,
        handler=saved.template_delete,
        redirect=lambda ctx, data: reverse("templates"),
    ),
]
