"""The API description against the API: a real Daphne, fuzzed by schemathesis.

Every described GET gets generated parameters (the cluster and the names in its path drawn
from what the test brokers hold, or made up); every answer must have a documented status,
be JSON of its documented schema, and never a server error except what a broker may answer
(503 unreachable, 501 not supported). ``STREAMDESK_FUZZ_EXAMPLES`` sets the examples per
operation (``make fuzz`` raises it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from nats.aio.client import Client
from schemathesis.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from console import openapi
from dev.webprocess import ROOT, WebProcess
from tests.kafka.helpers import commit, create_topic, produce
from tests.nats.helpers import add_consumer, create_own_stream, publish, run

EXAMPLES = int(os.environ.get("STREAMDESK_FUZZ_EXAMPLES", "6"))
# A broker's own failures pass; anything else of 5xx is a defect.
BROKER_STATUSES = {501, 503}

# API handlers not described yet. This list only shrinks: a new endpoint is described as it lands.
NOT_YET_DESCRIBED: set[tuple[str, str]] = {
    ("api-nats-objects-bucket", "POST"),
}


@pytest.fixture(scope="module")
def seeded(kafka_bootstrap: str, nats_urls: tuple[str, str], unique_module: str) -> dict[str, list[Any]]:
    """Names that exist on the test brokers, so that generated paths reach real answers too."""
    topic = create_topic(kafka_bootstrap, f"fuzz-{unique_module}", partitions=2)
    produce(kafka_bootstrap, topic, [b'{"n": 1}', b"\xff\xfe binary", None], key="k")
    group = f"fuzz-group-{unique_module}"
    commit(kafka_bootstrap, group, {(topic, 0): 1})
    stream = create_own_stream(nats_urls[0], unique_module, [f"fuzz.{unique_module}.>"])
    publish(
        nats_urls[0], [(f"fuzz.{unique_module}.a", b"hello", {"h": "1"}), (f"fuzz.{unique_module}.b", b"\x00", None)]
    )
    add_consumer(nats_urls[0], stream, f"fuzz-{unique_module}")
    bucket = f"fuzz{unique_module}"

    async def stores(nc: Client) -> None:
        js = nc.jetstream()
        store = await js.create_key_value(bucket=bucket, history=3)
        await store.put("a/b", b"one")
        await store.put("a/b", b"\xff two")
        await store.put("plain", b"{}")
        objects = await js.create_object_store(bucket=bucket)
        await objects.put("dir/file.txt", b"contents")

    run(nats_urls[0], stores)
    return {
        "cluster": ["kafka", "nats"],
        "topic": [topic, "__consumer_offsets"],
        "group": [group],
        "stream": [stream],
        "name": [f"fuzz-{unique_module}", "fuzz-worker", "dir/file.txt"],
        "seq": [1, 2],
        "subject": [f"fuzz.{unique_module}.a"],
        "broker": [0, 1],
        "job": [1, 2],
        "bucket": [bucket],
        "key": ["a/b", "plain"],
        "template": [1, 2],
        "search": [1, 2],
    }


@pytest.fixture(scope="module")
def unique_module() -> str:
    return os.urandom(4).hex()


@pytest.fixture(scope="module")
def web(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str, nats_urls: tuple[str, str]
) -> Iterator[WebProcess]:
    brokers = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "NATS_URL": nats_urls[0], "NATS_MONITOR_URL": nats_urls[1]}
    workdir: Path = tmp_path_factory.mktemp("openapi-web")
    process = WebProcess(workdir, brokers).prepare()
    # Rows for the database-backed families, so their answers are checked with data in them.
    seed = (
        "from streams.models import AuditEvent; from streams.publish.models import MessageTemplate, PublishJob; "
        "from streams.workers.models import ManagedConsumer; "
        "ManagedConsumer.objects.create(name='fuzz-worker', cluster='kafka', source_kind='topic', source='t', "
        "group='g', handler='log'); "
        "MessageTemplate.objects.create(name='fuzz', cluster='nats', kind='nats', target='a.b', "
        "fields={'value': 'x'}); "
        "PublishJob.objects.create(kind='kafka', cluster='kafka', target='t', total=10); "
        "from django.contrib.auth.models import User; from streams.search.models import Search; "
        "Search.objects.create(cluster='kafka', target='t', params={'text': 'x'}, created_by=User.objects.get()); "
        "AuditEvent.objects.create(username='u', action='topic.create', cluster='kafka', target='t', params={'a': 1})"
    )
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", seed], cwd=ROOT, env=process.env, check=True, timeout=120
    )
    process.start()
    yield process
    process.stop()


def _headers(web: WebProcess) -> dict[str, str]:
    return {"Authorization": f"Bearer {web.token}"}


def _document(web: WebProcess) -> dict[str, Any]:
    response = httpx.get(f"{web.url}/api/v1/openapi.json", headers=_headers(web), timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def _with_known_names(doc: dict[str, Any], known: dict[str, list[Any]]) -> dict[str, Any]:
    """Path parameters drawn from the names that exist (and a few that do not), so that generated
    calls reach real answers: a made-up cluster would make every call a 404."""
    for item in doc["paths"].values():
        for operation in item.values():
            kind = (
                "nats"
                if operation["operationId"].startswith(("api-nats-", "api-tail-stream", "api-tail-subject"))
                else "kafka"
            )
            for param in operation["parameters"]:
                if param["in"] != "path":
                    continue
                if param["name"] == "cluster":
                    # An unknown cluster's 404 is the same for every route (tests/web has it).
                    param["schema"] = {"const": kind}
                elif param["name"] in known:
                    odd = ["no-such-name"] + (["a/b"] if "pattern" not in param["schema"] else [])
                    param["schema"] = {"enum": known[param["name"]] + odd}
    return doc


def _suffixes(doc: dict[str, Any]) -> set[str]:
    """The fixed last segments of the routes, which a name holding "/" must not end with."""
    return {path.rsplit("/", 1)[1] for path in doc["paths"] if not path.endswith("}")}


def test_every_api_route_is_described_or_listed() -> None:
    missing = set(openapi.undescribed())
    assert not NOT_YET_DESCRIBED - missing, f"described now, strike from the list: {NOT_YET_DESCRIBED - missing}"
    assert missing <= NOT_YET_DESCRIBED, f"describe these handlers (@described): {sorted(missing - NOT_YET_DESCRIBED)}"


def test_description_is_openapi_31_and_login_required(web: WebProcess) -> None:
    assert httpx.get(f"{web.url}/api/v1/openapi.json", timeout=10).status_code == 401
    doc = _document(web)
    assert doc["openapi"].startswith("3.1")
    schemathesis.openapi.from_dict(doc).validate()
    topics = doc["paths"]["/api/v1/clusters/{cluster}/topics"]
    assert {"200", "400", "401", "403", "404", "503"} <= set(topics["get"]["responses"])
    assert topics["post"]["responses"]["409"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ApiError"
    }
    # Swagger UI's files come from this origin (the package's static files), not a CDN.
    for asset in ("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js", "js/apidocs.js"):
        served = httpx.get(f"{web.url}/static/{asset}", timeout=10)
        assert served.status_code == 200 and "javascript" in served.headers["content-type"], asset
    group = doc["paths"]["/api/v1/clusters/{cluster}/groups/{group}"]["get"]
    assert next(p for p in group["parameters"] if p["name"] == "group")["schema"] == {"type": "string", "minLength": 1}


def _fuzz(operation: Any, web: WebProcess, suffixes: set[str], seen: Counter[tuple[str, int]]) -> None:
    """EXAMPLES generated calls of one operation, each answer checked against the description."""
    checks = [status_code_conformance, content_type_conformance, response_schema_conformance]

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        for value in (case.path_parameters or {}).values():
            if isinstance(value, str) and "/" in value and value.rsplit("/", 1)[-1] in suffixes:
                return  # another route's path, by design (fixed suffixes are matched first)
        response = case.call(base_url=web.url, headers=_headers(web), timeout=30)
        status = response.status_code
        seen[(operation.label, status)] += 1
        assert status < 500 or status in BROKER_STATUSES, f"{case.formatted_path}: {status} {response.text[:500]}"
        case.validate_response(response, checks=checks)

    run()


def test_every_described_get_answers_as_described(web: WebProcess, seeded: dict[str, list[Any]]) -> None:
    doc = _document(web)
    suffixes = _suffixes(doc)
    schema = schemathesis.openapi.from_dict(_with_known_names(doc, seeded))
    failures: list[str] = []
    seen: Counter[tuple[str, int]] = Counter()
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    gets = [op for op in operations if op.method.upper() == "GET"]
    assert len(gets) >= 10
    for operation in gets:
        try:
            _fuzz(operation, web, suffixes, seen)
        except Exception as exc:  # noqa: BLE001 - gathered: one report for every operation
            failures.append(f"{operation.label}: {exc}")
    # Which statuses each operation met (pytest -s shows it; make fuzz does).
    print("\n".join(f"{label}: {status} x{n}" for (label, status), n in sorted(seen.items())))
    assert not failures, "\n\n".join(failures)


def test_docs_page_serves_swagger_ui_under_its_own_csp(admin_client: Any) -> None:
    response = admin_client.get("/docs/api")
    assert response.status_code == 200
    body = response.content.decode()
    assert "swagger-ui-dist/swagger-ui-bundle.js" in body and "js/apidocs.js" in body
    policy = response["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert "unsafe" not in policy and "http" not in policy
