"""Every route, called by a user scoped to the topics orders-* of one cluster, for things outside it.

The walk covers ``console.urls`` whole: a route added without a policy declaration either fails
``test_every_route_declares_its_policy`` or answers something the walk refuses to accept.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver

from console.web import UNDECLARED, endpoint
from streams.models import AuditEvent
from streams.publish.models import MessageTemplate, PublishJob
from streams.search.models import Search
from streams.workers.models import ManagedConsumer
from tests.kafka.helpers import create_topic

# Routes open by design, each for its reason.
OPEN = {
    "home": "redirects to the clusters page",
    "login": "the login form",
    "logout": "logging out",
    "password_change": "a user's own password",
    "password_change_done": "a user's own password",
    "healthz": "the load balancer's check: no broker data",
    "kafka-home": "redirects to a guarded page",
    "nats-home": "redirects to a guarded page",
    "oidc-login": "the single sign-on flow",
    "oidc-callback": "the single sign-on flow",
    "no-access": "tells a signed-in user that nothing grants them access yet",
    "account-tokens": "a user's own API tokens",
    "account-token-revoke": "a user's own API tokens",
    "docs-api": "renders the API's description, which holds no broker data",
    None: "the API's 404 for unknown paths",
}
# Routes that answer 200 to the scoped user: pages about no one resource, whose rows are filtered.
LISTINGS = {
    "clusters",
    "kafka-clusters",
    "nats-clusters",
    "kafka-topics",
    "lag",
    "workers",
    "worker-new",
    "jobs",
    "templates",
    "handlers",
    "me",
    "openapi",
}
OUTSIDE = "payments"
METHODS = ("get", "post", "put", "patch", "delete")


def routes(patterns: list[Any] | None = None, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            if str(pattern.pattern).startswith("admin/"):
                continue  # the admin: staff only, its own permissions
            yield from routes(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


def _bare(name: str | None) -> str | None:
    return name.removeprefix("api-") if name else name


def test_every_route_declares_its_policy():
    undeclared = [
        route
        for route, pattern in routes()
        if pattern.name not in OPEN and getattr(pattern.callback, "resource", None) is None
    ]
    assert undeclared == []


def test_an_undeclared_endpoint_is_closed_even_to_a_superuser(db: None, django_user_model: type[User]):
    async def handler(ctx: Any) -> dict[str, Any]:
        return {"secret": True}

    (api,) = endpoint("undeclared", name="undeclared", get=handler)
    boss = django_user_model.objects.create_superuser("boss", password="boss-pass-123")
    request = RequestFactory().get("/api/v1/undeclared")

    async def auser() -> User:
        return boss

    request.auser = auser
    response = async_to_sync(api.callback)(request)
    assert response.status_code == 403
    assert UNDECLARED in response.content.decode()


@pytest.fixture
def outside(scoped: User, kafka_bootstrap: str) -> dict[str, Any]:
    """Rows and a topic named outside the user's pattern, so that "hidden" is something to see."""
    create_topic(kafka_bootstrap, OUTSIDE)
    worker = ManagedConsumer.objects.create(
        name=f"{OUTSIDE}-worker", cluster="kafka", source_kind="topic", source=OUTSIDE, group=OUTSIDE, handler="log"
    )
    job = PublishJob.objects.create(kind="kafka", cluster="kafka", target=OUTSIDE, total=1)
    template = MessageTemplate.objects.create(name=OUTSIDE, cluster="kafka", kind="kafka", target=OUTSIDE)
    search = Search.objects.create(cluster="kafka", target=OUTSIDE, created_by=scoped)
    return {
        "topic": OUTSIDE,
        "group": f"{OUTSIDE}-readers",
        "stream": OUTSIDE.upper(),
        "bucket": OUTSIDE,
        "subject": f"{OUTSIDE}-value",
        "key": "k",
        "name": worker.name,
        "seq": 1,
        "broker": 1,
        "job": job.pk,
        "template": template.pk,
        "search": search.pk,
    }


def _fill(route: str, values: dict[str, Any]) -> str:
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), route)


BODY = {
    "name": OUTSIDE,
    "bucket": OUTSIDE,
    "subject": f"{OUTSIDE}.x",
    "cluster": "kafka",
    "topic": OUTSIDE,
    "target": OUTSIDE,
    "source": OUTSIDE,
    "group": OUTSIDE,
    "handler": "log",
    "value": "x",
}


def test_everything_outside_the_pattern_is_refused_or_hidden(scoped_client: Client, outside: dict[str, Any]):
    seen = 0
    for route, pattern in routes():
        if pattern.name in OPEN or route.startswith("admin/"):
            continue
        clusters = ["kafka", "nats"] if "<slug:cluster>" in route else [None]
        for slug in clusters:
            url = _fill(route, {**outside, "cluster": slug})
            for method in METHODS:
                if route.startswith("api/"):
                    response = getattr(scoped_client, method)(url, BODY, content_type="application/json")
                else:
                    response = getattr(scoped_client, method)(url, BODY if method == "post" else None)
                seen += 1
                status = response.status_code
                where = f"{method.upper()} {url} ({pattern.name})"
                if status == 200:
                    assert _bare(pattern.name) in LISTINGS, f"{where} answered 200"
                    assert method == "get", f"{where} answered 200"
                    assert OUTSIDE not in response.content.decode(), f"{where} shows {OUTSIDE}"
                else:
                    assert status in (403, 404, 405), f"{where} answered {status}"
    assert seen > 500
    # The refusals the policies made are in the audit trail, with the missing action.
    denied = AuditEvent.objects.filter(result=AuditEvent.Result.DENIED, username="scot")
    assert denied.filter(action="access.denied", params__action="messages").exists()
    assert denied.filter(action="kafka.topic.delete").exists()


def test_the_same_user_reaches_what_the_pattern_covers(scoped_client: Client, kafka_bootstrap: str, unique: str):
    topic = create_topic(kafka_bootstrap, f"orders-{unique}")
    create_topic(kafka_bootstrap, f"payments-{unique}")
    listed = scoped_client.get("/api/v1/clusters/kafka/topics", {"q": unique}).json()
    assert [t["name"] for t in listed["items"]] == [topic] and listed["total"] == 1
    assert scoped_client.get(f"/api/v1/clusters/kafka/topics/{topic}").status_code == 200
    assert scoped_client.get(f"/clusters/kafka/topics/{topic}").status_code == 200
    refused = scoped_client.get(f"/api/v1/clusters/kafka/topics/payments-{unique}")
    assert refused.status_code == 403
    assert refused.json()["error"].startswith(f"This needs the 'view' action on topic 'payments-{unique}'")
    # The clusters listing hides the NATS cluster, on which nothing is granted.
    slugs = [c["slug"] for c in scoped_client.get("/api/v1/clusters").json()["clusters"]]
    assert slugs == ["kafka"]
