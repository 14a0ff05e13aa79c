"""The search page: a form in the URL, a search started from it on a real Celery worker, its
progress polled by htmx until it ends, its results linking to the message pages."""

from __future__ import annotations

import html
import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from streams.audit import AuditEvent
from tests.kafka import helpers as kh
from tests.nats import helpers as h
from tests.polling import wait_until
from tests.search.test_kafka_search import SLOW

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("celery"), pytest.mark.slow]

HTMX_POLL = {"HX-Request": "true", "HX-Target": "search-panel"}


def page_of(client: Client, url: str, headers: dict[str, str] | None = None) -> str:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


def run_from_form(client: Client, topic: str, form: dict[str, str | list[str]]) -> str:
    """Submit the form as a browser does; the answer is the search's own URL (POST-redirect-GET)."""
    response = client.post(f"/clusters/kafka/topics/{topic}/search", form)
    assert response.status_code == 303, response.content[:500]
    return str(response["Location"])


def until_ended(client: Client, url: str, timeout: float = 60) -> str:
    return wait_until(
        lambda: page_of(client, url, headers=HTMX_POLL),
        until=lambda panel: 'data-state="running"' not in panel,
        timeout=timeout,
        interval=0.3,
        message=f"the search at {url} ending",
    )


def test_topic_page_and_browser_lead_to_the_search_tab(viewer_client, kafka_bootstrap, unique):
    topic = kh.create_topic(kafka_bootstrap, unique, partitions=2)
    search_url = f"/clusters/kafka/topics/{topic}/search"
    assert f'href="{search_url}"' in page_of(viewer_client, f"/clusters/kafka/topics/{topic}")
    browser = page_of(viewer_client, f"/clusters/kafka/topics/{topic}/messages?partition=1&q=4711")
    assert f'href="{search_url}"' in browser
    assert html.escape(f"{search_url}?from=beginning&text=4711&partitions=1") in browser
    # ... and exports what it reads from there to the end, as the browser's htmx partial too.
    export_url = f"/clusters/kafka/topics/{topic}/export"
    assert html.escape(f"{export_url}?format=csv&from=last%3A50&until=now&partitions=1&text=4711") in browser
    partial = page_of(
        viewer_client, f"/clusters/kafka/topics/{topic}/messages?from=offset&offset=3", {"HX-Request": "true"}
    )
    assert html.escape(f"{export_url}?format=jsonl&from=offset%3A3&until=now") in partial

    # A bookmarked search URL fills the form again, ready to be run.
    form = page_of(viewer_client, f"{search_url}?from=offset&from_n=7&text=a+b&jq=.value.n&partitions=1&limit=20")
    assert re.search(r'<option value="offset"\s+selected', form)
    assert 'name="from_n" min="0" value="7"' in form
    assert 'name="text" value="a b"' in form and 'name="jq" value=".value.n"' in form
    assert re.search(r'<option value="1" selected>1</option>', form) and '<option value="0" >0</option>' in form
    assert 'name="limit" min="1" max="10000" value="20"' in form
    export = html.escape(f"/clusters/kafka/topics/{topic}/export?format=csv&from=offset%3A7&until=now&partitions=1")
    assert export in form


def test_a_search_from_the_form_shows_progress_then_results_linking_to_messages(
    celery_worker, viewer, viewer_client, kafka_bootstrap, unique
):
    topic = kh.create_topic(kafka_bootstrap, unique, partitions=2)
    for p in (0, 1):
        kh.produce(kafka_bootstrap, topic, [json.dumps({"order": p * 100 + i}) for i in range(60)], partition=p)
    url = run_from_form(viewer_client, topic, {"from": "beginning", "until": "now", "jq": ".value.order % 10 == 3"})
    query = parse_qs(urlsplit(url).query)
    assert query["jq"] == [".value.order % 10 == 3"] and query["from"] == ["beginning"] and "search" in query

    # The whole page the redirect lands on polls its panel while the search runs (or shows the end).
    first = page_of(viewer_client, url)
    assert 'id="search-panel"' in first and "<form" in first
    panel = until_ended(viewer_client, url)
    assert '<form class="search-form' not in panel  # the poll answers the panel alone
    assert 'data-state="done"' in panel and "hx-trigger" not in panel  # polling stops once it ended
    assert re.search(r"<span data-scanned>120</span> scanned of 120", panel)
    assert "<span data-matched>12</span> matched" in panel
    rows = re.findall(r'<tr data-partition="(\d)" data-offset="(\d+)">', panel)
    assert sorted((int(p), int(o)) for p, o in rows) == [(p, o) for p in (0, 1) for o in range(3, 60, 10)]
    link = html.escape(f"/clusters/kafka/topics/{topic}/messages?partition=1&offset=13&full=1")
    assert f'href="{link}"' in panel
    message = page_of(viewer_client, html.unescape(link))
    assert "&quot;order&quot;: 113" in message
    export = html.escape(f"/clusters/kafka/topics/{topic}/export?format=jsonl&from=beginning&until=now&jq=")
    assert export in panel
    event = AuditEvent.objects.get(action="kafka.topic.search", target=topic)
    assert event.user == viewer and event.params["ranges"] == {"0": [0, 60], "1": [0, 60]}
    assert event.params["jq"] == ".value.order % 10 == 3"


def test_results_are_paged(celery_worker, viewer_client, kafka_bootstrap, unique):
    topic = kh.create_topic(kafka_bootstrap, unique)
    kh.produce(kafka_bootstrap, topic, [f"hit-{i}" for i in range(120)])
    url = run_from_form(viewer_client, topic, {"from": "offset", "from_n": "10", "text": "hit", "limit": "70"})
    panel = until_ended(viewer_client, url)
    assert "<span data-matched>110</span> matched" in panel and "the first 70 are kept" in panel
    assert len(re.findall(r"<tr data-partition", panel)) == 50
    second = page_of(viewer_client, f"{url}&page=2", headers=HTMX_POLL)
    offsets = [int(o) for o in re.findall(r'data-offset="(\d+)"', second)]
    assert offsets == list(range(60, 80))
    assert 'rel="prev"' in second and 'rel="next"' not in second


def test_a_bad_jq_expression_is_shown_on_its_field(viewer_client, kafka_bootstrap, unique):
    topic = kh.create_topic(kafka_bootstrap, unique)
    response = viewer_client.post(f"/clusters/kafka/topics/{topic}/search", {"from": "beginning", "jq": ".a |||"})
    assert response.status_code == 400
    page = response.content.decode()
    error = re.search(r'<p id="jq-error" class="field-error" role="alert" data-field="jq">(.*?)</p>', page, re.S)
    assert error is not None and "syntax error" in error.group(1)
    assert 'aria-describedby="jq-error" aria-invalid="true"' in page
    assert 'value=".a |||"' in page  # the expression stays in the field to be corrected
    assert not AuditEvent.objects.filter(action="kafka.topic.search", target=topic).exists()

    response = viewer_client.post(f"/clusters/kafka/topics/{topic}/search", {"from": "offset", "from_n": "x"})
    assert response.status_code == 400 and 'data-field="from"' in response.content.decode()


def test_another_users_search_is_404_and_the_url_still_runs_again(
    celery_worker, viewer_client, operator, kafka_bootstrap, unique
):
    topic = kh.create_topic(kafka_bootstrap, unique)
    kh.produce(kafka_bootstrap, topic, ["apple", "banana"])
    url = run_from_form(viewer_client, topic, {"from": "beginning", "text": "an"})
    other = Client()
    other.force_login(operator)
    response = other.get(url)
    assert response.status_code == 404
    page = response.content.decode()
    assert "data-missing-search" in page and 'id="search-panel"' not in page
    assert 'name="text" value="an"' in page  # the shared parameters, ready to run as their own
    assert other.get(url, headers=HTMX_POLL).status_code == 404
    mine = run_from_form(other, topic, {"from": "beginning", "text": "an"})
    assert "<span data-matched>1</span> matched" in until_ended(other, mine)


def test_cancel_from_the_page(celery_worker, viewer_client, kafka_bootstrap, unique):
    topic = kh.create_topic(kafka_bootstrap, unique)
    kh.produce(kafka_bootstrap, topic, [f"m{i}" for i in range(20_000)])
    url = run_from_form(viewer_client, topic, {"from": "beginning", "jq": SLOW})
    search = parse_qs(urlsplit(url).query)["search"][0]
    panel = page_of(viewer_client, url, headers=HTMX_POLL)
    assert 'data-state="running"' in panel and 'hx-trigger="every 1s"' in panel
    assert f'hx-post="/api/v1/searches/{search}/cancel"' in panel
    # The button's form works without JavaScript too: cancel, then back to the page.
    response = viewer_client.post(f"/searches/{search}/cancel", {"next": url})
    assert (response.status_code, response["Location"]) == (303, url)
    panel = until_ended(viewer_client, url)
    assert 'data-state="cancelled"' in panel and "Cancel</button>" not in panel


def test_a_stream_search_has_the_same_page_with_results_linking_to_its_messages(
    celery_worker, viewer, viewer_client, nats_urls, unique, settings
):
    settings.BROKER_CACHE_SECONDS = 0
    url = nats_urls[0]
    name = h.create_own_stream(url, unique)
    h.publish(url, [(f"{unique}.{'a' if i % 2 else 'b'}", json.dumps({"order": i}).encode(), None) for i in range(40)])
    search_url = f"/clusters/nats/streams/{name}/search"
    stream_page = page_of(viewer_client, f"/clusters/nats/streams/{name}")
    assert f'href="{search_url}"' in stream_page and f'action="{search_url}"' in stream_page

    # A bookmarked search fills the stream's form: a subject filter instead of partitions, sequences.
    form = page_of(viewer_client, f"{search_url}?from=seq&from_n=5&subject={unique}.a&text=x")
    assert f'name="subject" value="{unique}.a"' in form and 'name="partitions"' not in form
    assert re.search(r'<option value="seq"\s+selected', form)
    export = html.escape(f"/clusters/nats/streams/{name}/export?format=csv&from=seq%3A5&until=now&subject={unique}.a")
    assert export in form

    response = viewer_client.post(
        search_url, {"from": "beginning", "until": "now", "subject": f"{unique}.a", "jq": ".value.order % 10 == 3"}
    )
    assert response.status_code == 303, response.content[:500]
    found = str(response["Location"])
    assert urlsplit(found).path == search_url and "search" in parse_qs(urlsplit(found).query)
    first = page_of(viewer_client, found)
    assert 'id="search-panel"' in first and "<form" in first
    panel = until_ended(viewer_client, found)
    assert 'data-state="done"' in panel and "hx-trigger" not in panel
    assert re.search(r"<span data-scanned>20</span> scanned of 20", panel)
    # Orders 3, 13, 23, 33 are on <unique>.a (the odd ones), at sequences 4, 14, 24, 34.
    assert [int(s) for s in re.findall(r'<tr data-seq="(\d+)">', panel)] == [4, 14, 24, 34]
    assert f"<code>{unique}.a</code>" in panel
    link = f"/clusters/nats/streams/{name}/messages/14"
    assert f'href="{link}"' in panel
    assert "&quot;order&quot;: 13" in page_of(viewer_client, link)
    export = html.escape(f"/clusters/nats/streams/{name}/export?format=jsonl&from=beginning&until=now&subject=")
    assert export in panel
    event = AuditEvent.objects.get(action="nats.stream.search", target=name)
    assert event.user == viewer and event.params["subject"] == f"{unique}.a"

    # Another target's search id is not this page's.
    other = h.create_own_stream(url, f"{unique}-o")
    search = parse_qs(urlsplit(found).query)["search"][0]
    assert viewer_client.get(f"/clusters/nats/streams/{other}/search?search={search}").status_code == 404
    assert viewer_client.get(f"/clusters/nats/streams/{name}-NONE/search").status_code == 404
