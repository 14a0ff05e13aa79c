"""A stream range written out as JSON Lines or CSV, read in batches on a connection of its own;
the next batch is asked for only when the last one has been written (and, under Daphne, the
write buffer has drained: console.backpressure)."""

from __future__ import annotations

import csv
import io
import json
import logging
from binascii import b2a_base64
from collections.abc import AsyncIterator, Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings

from streams.clusters import ClusterConfig
from streams.errors import InvalidInput, NotFound
from streams.masking import Rule, mask_headers
from streams.payloads import header_pairs
from streams.search import actions, jetstream_scan, plain_json
from streams.search import jetstream_read as jr
from streams.search.export import FORMATS, _text, _where
from streams.search.filters import Matcher

logger = logging.getLogger("streams.search")

NATS_EXPORT = "nats.stream.export"
# Messages and bytes per batch (a batch is a chunk written); two batches at most are held ahead of the client.
BATCH = 1000
MAX_BYTES = 1024 * 1024
# header_pairs' limit: a longer header value is cut, which the general path writes.
HEADER_LIMIT = 4096
IDLE_SECONDS = 5.0
CSV_COLUMNS = ["seq", "subject", "timestamp", "value", "headers"]


def parse_query(query: Any) -> dict[str, Any]:
    fmt = query.get("format") or "jsonl"
    if fmt not in FORMATS:
        raise InvalidInput("format must be jsonl or csv.", field="format")
    body = {
        "from": _where(query.get("from"), "from") or "beginning",
        "until": _where(query.get("until"), "until"),
        "subject": query.get("subject") or None,
        "text": query.get("text") or None,
        "jq": query.get("jq") or None,
    }
    params = actions.parse_stream_params(body)
    return {"format": fmt, **{k: params[k] for k in ("from", "until", "subject", "text", "jq")}}


def csv_row(item: jr.Item, config: ClusterConfig, schema_data: Any, rules: tuple[Rule, ...] = ()) -> str:
    seq, subject, when, headers, data = item
    if rules:
        # As its reader may see it: the masked value (its masked decoded data where a schema read it).
        shown = jetstream_scan.shown_value(item, config, None, rules)
        decoding = shown.decoding.decoded if shown.decoding is not None else None
        decoded = decoding.data if decoding is not None else None
        data = shown.raw or b""
        masked = mask_headers(header_pairs(jr.header_list(headers)), rules)
        header_list = [(name, p.raw) for name, p in masked]
    else:
        decoded = schema_data("value", data) if schema_data is not None else None
        header_list = jr.header_list(headers)
    value = _text(data) if decoded is None else json.dumps(decoded, default=str, ensure_ascii=False)
    pairs = {name: _text(v) for name, v in header_list}
    out = io.StringIO()
    csv.writer(out).writerow([seq, subject, jr.iso(when), value, json.dumps(pairs, ensure_ascii=False)])
    return out.getvalue()


def plain_line(item: jr.Item) -> str | None:
    """The JSON line ``message`` gives where no schema decodes and no rule masks, written as text (the
    export's cost per message); None for headers the general path cuts or gets as pairs."""
    seq, subject, when, headers, data = item
    pairs = "[]"
    if headers:
        if not isinstance(headers, dict):
            return None
        parts = []
        for name, value in headers.items():
            text = str(value)
            raw = text.encode()
            if len(raw) > HEADER_LIMIT:
                return None
            parts.append(
                f'[{plain_json.quote(str(name)[:256])}, {{"text": {plain_json.quote(text)}, '
                f'"base64": "{b2a_base64(raw, newline=False).decode("ascii")}"}}]'
            )
        pairs = f"[{', '.join(parts)}]"
    return (
        f'{{"seq": {seq}, "subject": {plain_json.quote(subject)}, "timestamp": {plain_json.string(jr.iso(when))}, '
        f'"key": null, "headers": {pairs}, "value": {plain_json.payload(data)}, "truncated": false, '
        f'"size": {0 if data is None else len(data)}}}\n'
    )


def plain(config: ClusterConfig, fmt: str, rules: jetstream_scan.SubjectRules) -> bool:
    """Whether JSON Lines may be written by ``plain_line``."""
    return fmt == "jsonl" and not config.decodes and not rules


def lines(
    batch: list[jr.Item],
    config: ClusterConfig,
    matches: Callable[[jr.Item], bool],
    fmt: str,
    rules: jetstream_scan.SubjectRules = jetstream_scan.NO_RULES,
) -> bytes:
    """The matching messages of a batch, written out as the reader may see them (blocking: a schema may ask
    its registry)."""
    readers = jetstream_scan.schema_readers(config)
    direct = plain(config, fmt, rules)
    out: list[str] = []
    for item in batch:
        if not matches(item):
            continue
        if fmt == "jsonl":
            written = plain_line(item) if direct else None
            if written is None:
                message = jetstream_scan.message(item, config, None, rules)
                written = json.dumps(message, ensure_ascii=False, default=str) + "\n"
            out.append(written)
        else:
            out.append(csv_row(item, config, readers(item[1]), rules(item[1])))
    return "".join(out).encode()


async def stream(
    config: ClusterConfig,
    name: str,
    span: list[int],
    params: dict[str, Any],
    match: Matcher,
    mask: tuple[Rule, ...] = (),
) -> AsyncIterator[bytes]:
    """[span) of the stream, matching messages only, masked by ``mask`` (filters then see the masked view);
    a failure mid-way ends the download where it is."""
    fmt, subject = params["format"], params["subject"]
    rules = jetstream_scan.SubjectRules(tuple(mask), config.slug, name)
    matches = jetstream_scan.item_matcher(config, params, match, rules)
    if fmt == "csv":
        out = io.StringIO()
        csv.writer(out).writerow(CSV_COLUMNS)
        yield out.getvalue().encode()
    where = jr.Range(name, int(span[0]), int(span[1]), subject)
    if where.start >= where.end:
        return
    timeout = settings.BROKER_TIMEOUT_SECONDS
    nc = await jr.connect(config, timeout)
    reader: jr.StreamReader | None = None
    write = sync_to_async(lines, thread_sensitive=False)
    # Nothing in the way that could block (a registry, jq): the lines are written on the loop, where the
    # messages are read, rather than in a thread contending with it for the GIL.
    inline = plain(config, fmt, rules) and not params["jq"]
    try:
        try:
            info = await jr.api(nc, f"STREAM.INFO.{name}", None, timeout, f"Stream {name!r}")
        except NotFound:
            return
        reader = jr.StreamReader(
            nc, where, jr.method_for(info, jr.server_version(nc)), batch=BATCH, max_bytes=MAX_BYTES,
            timeout=timeout,
        )  # fmt: skip
        await reader.open()
        while True:
            try:
                batch = await reader.next_batch(IDLE_SECONDS)
            except (jr.Idle, jr.ReadFailed) as exc:
                try:
                    await reader.recover(str(exc))
                except (jr.StreamGone, jr.ServerGone) as gone:
                    logger.info("export of %s stopped: %s", name, gone)
                    return
                continue
            if not batch:
                if reader.done:
                    return
                continue
            if inline:
                chunk = lines(batch, config, matches, fmt, rules)
            else:
                chunk = await write(batch, config, matches, fmt, rules)
            if chunk:
                yield chunk
    finally:
        if reader is not None:
            await reader.close()
        if not nc.is_closed:
            await nc.close()
