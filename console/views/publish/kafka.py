"""Publishing to a Kafka topic: one message, one sent again, or a bulk job; and the topic's publish form."""

from __future__ import annotations

from typing import Any

from console.apitypes import publish as api
from console.openapi import described
from console.params import int_param
from console.views.publish.common import (
    MAX_PARTITION,
    bulk_params,
    job_spec,
    job_started,
    no_schema_in_bulk,
    outgoing_message,
)
from console.views.publish.form import form_choices, form_prefill, form_templates, prefill_api
from console.views.publish.stored import stored_kafka
from console.web import Ctx, Result, writes
from streams.kafka.names import validate_topic_name
from streams.publish import actions
from streams.publish.message import Generator, parse_headers
from streams.publish.models import Target


@described(body=api.KafkaPublish, answers={201: api.KafkaDelivery, 202: api.JobStarted})
@writes(actions.KAFKA_PUBLISH, needs="publish")
async def kafka_publish(ctx: Ctx) -> Result:
    topic = validate_topic_name(ctx.args["topic"], field="topic")
    body = ctx.body()
    partition = int_param(body, "partition", None, minimum=0, maximum=MAX_PARTITION)
    count, rate = bulk_params(body)
    source = int_param(body, "from_offset", None, minimum=0)
    if source is not None:
        from_partition = int_param(body, "from_partition", 0, minimum=0, maximum=MAX_PARTITION)
        assert from_partition is not None
        message = await stored_kafka(ctx, topic, from_partition, source)
        delivery = await actions.do_publish_kafka(ctx.user, ctx.config, topic, message, partition)
        return Result({**delivery.as_api(), "message": _delivered(delivery.as_api())}, status=201)
    if count is not None:
        no_schema_in_bulk(body)
        spec = job_spec(body, partition=partition)
        generator = Generator.build(spec["key"], spec["value"], spec["encoding"], parse_headers(spec["headers"]))
        job = await actions.do_start_bulk(
            ctx.user, ctx.config, Target.KAFKA, topic, spec, count, rate, actions.sample_of(generator)
        )
        return Result(job_started(job.pk), status=202, page={"job": job})
    message, schema_ids = await outgoing_message(ctx, topic, body, keyed=True)
    delivery = await actions.do_publish_kafka(ctx.user, ctx.config, topic, message, partition, schemas=schema_ids)
    data = {**delivery.as_api(), **schema_ids}
    return Result({**data, "message": _delivered(data)}, status=201)


def _delivered(data: dict[str, Any]) -> str:
    return f"Delivered to {data['topic']} partition {data['partition']} at offset {data['offset']}."


@described(query=api.KafkaFormQuery, answers={200: api.KafkaForm})
async def kafka_form(ctx: Ctx) -> Result:
    """The publish form of a topic, filled from a saved message or a stored one when asked."""
    topic = ctx.args["topic"]
    info = await ctx.kafka.topic(topic)
    prefill = await form_prefill(ctx, Target.KAFKA, topic)
    templates = await form_templates(ctx, Target.KAFKA)
    data = {
        "topic": topic,
        "partitions": info.partition_ids,
        "templates": [t.as_api() for t in templates],
        "prefill": prefill_api(prefill),
    }
    return Result(data, page={"prefill": prefill, **await form_choices(ctx)})
