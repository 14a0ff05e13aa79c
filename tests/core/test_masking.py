"""Masking rules read and checked, and what they make of a payload: table tests, no broker."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from streams import masking
from streams.masking import MaskingError, Rule, mask_header, mask_payload, mask_tree
from streams.payloads import Payload
from streams.schemas.decode import Decoded, DecodeResult
from streams.tail.messages import nats_item
from streams.tail.subscriber import Limits, Subscriber

ROOT = Path(__file__).resolve().parents[2]


def rules(*specs: dict[str, Any]) -> tuple[Rule, ...]:
    return masking.parse({"mask": [{"topics": ["*"], **s} for s in specs]}).rules


# ---- the rules file ------------------------------------------------------------------------


def test_toml_and_json_files_load_the_same_rules(tmp_path):
    toml = tmp_path / "masking.toml"
    toml.write_text(
        '[[mask]]\nclusters = ["prod-*"]\ntopics = ["orders-*"]\nfields = ["$.card.number", "email"]\n'
        '[[mask]]\nsubjects = ["users.>"]\npattern = "\\\\d{3}-\\\\d{4}"\nreplace = "#"\n'
    )
    js = tmp_path / "masking.json"
    js.write_text(
        json.dumps(
            {
                "mask": [
                    {"clusters": ["prod-*"], "topics": ["orders-*"], "fields": ["$.card.number", "email"]},
                    {"subjects": ["users.>"], "pattern": r"\d{3}-\d{4}", "replace": "#"},
                ]
            }
        )
    )
    for path in (toml, js):
        loaded = masking.load(str(path))
        first, second = loaded.rules
        assert [f.text for f in first.fields] == ["$.card.number", "email"] and first.replace == "***"
        assert second.pattern is not None and second.pattern.pattern == r"\d{3}-\d{4}" and second.replace == "#"
        assert loaded.covering("prod-eu", ("topics", "orders-1")) == (first,)
        assert loaded.covering("dev", ("topics", "orders-1")) == ()
        # A type the rule does not list is not covered by it.
        assert loaded.covering("prod-eu", ("streams", "orders-1")) == ()
        assert loaded.covering("dev", ("streams", "x"), ("subjects", "users.>")) == (second,)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"topic": ["a"], "fields": ["x"]}, "unknown key 'topic'"),
        ({"fields": ["x"]}, "covers nothing"),
        ({"topics": ["a"]}, "masks nothing"),
        ({"topics": "", "fields": ["x"]}, "topics must be a list"),
        ({"topics": ["a"], "fields": ["a.b"]}, "a path starts with $"),
        ({"topics": ["a"], "fields": ["$.a..b"]}, "cannot read the path"),
        ({"topics": ["a"], "fields": ["$"]}, "names no field"),
        ({"topics": ["a"], "pattern": "("}, "not a valid regular expression"),
        ({"topics": ["a"], "pattern": "[\\w.]+@"}, "unbounded repeats"),
        ({"topics": ["a"], "pattern": "x*"}, "unbounded repeats"),
        ({"topics": ["a"], "pattern": "a{2,}"}, "unbounded repeats"),
        ({"topics": ["a"], "pattern": "a{1,500}"}, "at most 128 times"),
        ({"topics": ["a"], "pattern": "(a{1,9}){1,9}$"}, "nested quantifiers"),
        ({"topics": ["a"], "pattern": "(ab|a){0,9}c"}, "quantified alternation"),
        ({"topics": ["a"], "pattern": "(a)\\1"}, "backreferences"),
        ({"topics": ["a"], "pattern": "\\d{1,64}\\d{0,64}x"}, "two repeats of varying length"),
        ({"topics": ["a"], "pattern": ".{0,99}.{0,99}="}, "two repeats of varying length"),
        ({"topics": ["a"], "pattern": "(\\d{1,64})\\s{0,3}(\\d{1,64})"}, "two repeats of varying length"),
        ({"topics": ["a"], "pattern": "\\d{1,64}[ -]?\\d{1,64}"}, "two repeats of varying length"),
        ({"topics": ["a"], "pattern": "(\\d)", "replace": "\\2"}, "does not fit the pattern"),
        ({"topics": ["a"], "fields": ["x"], "replace": 3}, "replace must be a string"),
    ],
)
def test_a_bad_rule_is_refused_naming_it(spec, message):
    with pytest.raises(MaskingError) as caught:
        masking.parse({"mask": [spec]}, "rules.toml")
    assert message in str(caught.value)
    assert "rules.toml: mask rule 1" in str(caught.value)


@pytest.mark.parametrize(
    "pattern",
    [
        r"\d{4}[ -]?\d{4}[ -]?\d{4}[ -]?\d{4}",
        r"[\w.+-]{1,64}@[\w-]{1,63}\.[\w.]{2,63}",
        r"\d{1,64}\s{1,8}\d{1,64}",
        r"\d{1,4}[ -]?\d{1,4}",
        r"(?i)secret=\S{1,128}",
        r"\b\d{3}-\d{2}-\d{4}\b",
    ],
)
def test_ordinary_patterns_pass_the_guard_and_stay_fast_on_hostile_values(pattern):
    compiled = masking.compile_pattern(pattern)
    assert compiled.pattern == pattern
    # Long runs of what the pattern's repeats match, the worst case for a backtracking matcher:
    # an unbounded [\w.+-]+@ took minutes on the first of these.
    for hostile in ("a" * 65536, "1" * 65536, "a." * 32768, "1 " * 32768):
        started = time.perf_counter()
        compiled.sub("***", hostile)
        assert time.perf_counter() - started < 2.0, (pattern, hostile[:4])


def test_a_bad_rules_file_stops_start_up_naming_the_variable(tmp_path):
    bad = tmp_path / "masking.toml"
    bad.write_text('[[mask]]\ntopics = ["*"]\npattern = "(a{1,9}){1,9}"\n')
    env = {
        "PATH": "/usr/bin:/bin",
        "STREAMDESK_VAR_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "console.settings",
        "STREAMDESK_MASKING": str(bad),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "streamdesk.E001 STREAMDESK_MASKING" in result.stderr and "nested quantifiers" in result.stderr


# ---- payloads ---------------------------------------------------------------------------------

CARD = {"id": 7, "card": {"number": "4111 1111 1111 1111", "cvc": 123}, "email": "ann@example.com"}


@pytest.mark.parametrize(
    ("specs", "value", "expected"),
    [
        # A path: that field only.
        (
            [{"fields": ["$.card.number"]}],
            CARD,
            {"id": 7, "card": {"number": "***", "cvc": 123}, "email": "ann@example.com"},
        ),
        # A bare name: that key at any depth, arrays included.
        (
            [{"fields": ["email"]}],
            {"email": "a@x", "users": [{"email": "b@x", "n": 1}, {"other": {"email": "c@x"}}]},
            {"email": "***", "users": [{"email": "***", "n": 1}, {"other": {"email": "***"}}]},
        ),
        # Paths through arrays, by index and by wildcard; a whole subtree replaced.
        (
            [{"fields": ["$.items[*].sku", "$.items[0].qty", "$.card"]}],
            {"items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}], "card": {"n": 1}},
            {"items": [{"sku": "***", "qty": "***"}, {"sku": "***", "qty": 2}], "card": "***"},
        ),
        # A quoted key with a dot in it.
        ([{"fields": ["$['a.b']"]}], {"a.b": 1, "a": {"b": 2}}, {"a.b": "***", "a": {"b": 2}}),
        # A pattern inside fields only.
        (
            [{"fields": ["note"], "pattern": r"\d{4}", "replace": "####"}],
            {"note": "card 1234 5678", "id": "1234"},
            {"note": "card #### ####", "id": "1234"},
        ),
        # A pattern alone: every string and number of the document, and keys.
        (
            [{"pattern": r"\d{3}-\d{4}", "replace": "[phone]"}],
            {"a": "call 555-1234", "b": ["555-9999"], "555-0000": 1},
            {"a": "call [phone]", "b": ["[phone]"], "[phone]": 1},
        ),
        ([{"pattern": r"^\d{9}$"}], {"ssn": 123456789, "n": 5}, {"ssn": "***", "n": 5}),
        # Two rules, applied in order.
        (
            [{"fields": ["email"]}, {"fields": ["$.card.cvc"], "replace": "-"}],
            CARD,
            {"id": 7, "card": {"number": "4111 1111 1111 1111", "cvc": "-"}, "email": "***"},
        ),
    ],
)
def test_json_fields_and_patterns(specs, value, expected):
    text = json.dumps(value)
    before = json.loads(text)
    masked = mask_payload(Payload.of(text), rules(*specs))
    assert masked.masked
    assert json.loads(masked.text or "") == expected
    api = masked.as_api()
    assert api == {"text": masked.text, "base64": None, "masked": True}
    assert masked.hex == "" and masked.b64 == ""
    # The text view is rebuilt from the masked data; the original is untouched.
    assert json.loads(masked.pretty_json or "") == expected
    assert before == value


@pytest.mark.parametrize(
    ("specs", "raw", "expected_text"),
    [
        ([{"pattern": r"\d{3}-\d{4}"}], b"call 555-1234 now", "call *** now"),
        # Fields cannot be found in plain text: they leave it alone, a pattern does not.
        ([{"fields": ["email"], "pattern": "x"}, {"pattern": "secret"}], b"a secret", "a ***"),
        # Bytes that are not text are redacted whole.
        ([{"fields": ["email"]}], b"\xff\xfe\x00\x01", "***"),
        ([{"pattern": "x", "replace": "[binary]"}], b"\x80\x81", "[binary]"),
        # JSON that does not parse while fields are asked for: nothing can be said absent.
        ([{"fields": ["email"]}], b'{"email": "a@x", ', "***"),
        ([{"fields": ["email"]}], b"[" * 5000, "***"),
    ],
)
def test_text_and_binary(specs, raw, expected_text):
    masked = mask_payload(Payload.of(raw), rules(*specs))
    assert masked.masked and masked.text == expected_text
    assert masked.as_api() is not None and masked.as_api()["base64"] is None  # type: ignore[index]
    assert masked.size == len(raw)


def test_a_payload_cut_at_the_display_limit():
    big = json.dumps({"email": "a@x", "pad": "y" * 200})
    cut = Payload.of(big, 40)
    assert cut.truncated
    # A field rule cannot read the cut JSON: the whole of it is hidden.
    whole = mask_payload(cut, rules({"fields": ["email"]}))
    assert (whole.text, whole.truncated, whole.size) == ("***", True, len(big))
    # A pattern runs over the text that is shown.
    shown = mask_payload(cut, rules({"pattern": "a@x"}))
    assert (
        shown.masked and shown.text is not None and "a@x" not in shown.text and shown.text.startswith('{"email": "***"')
    )


@pytest.mark.parametrize(
    ("specs", "raw"),
    [
        ([{"fields": ["email"]}], b'{"name": "ann"}'),
        ([{"pattern": r"\d{5}"}], b"no digits"),
        ([{"fields": ["email"]}], b"plain text"),
    ],
)
def test_nothing_to_hide_leaves_the_payload_as_read(specs, raw):
    payload = Payload.of(raw)
    assert mask_payload(payload, rules(*specs)) is payload
    assert payload.as_api() == {"text": raw.decode(), "base64": payload.b64}


def test_a_null_key_stays_null_and_no_rules_change_nothing():
    assert mask_payload(Payload.of(None), rules({"fields": ["x"]})).as_api() is None
    payload = Payload.of(b"\xff")
    assert mask_payload(payload, ()) is payload


def test_schema_decoded_data_is_masked_and_the_raw_bytes_go():
    decoded = Decoded(format="avro", data={"user": {"email": "a@x", "age": 3}}, schema_id=4, subject="s", version=1)
    raw = b"\x00\x00\x00\x00\x04" + b"avro bytes with a@x inside"
    payload = Payload.of(raw).with_decoding(DecodeResult(decoded=decoded))
    masked = mask_payload(payload, rules({"fields": ["email"]}))
    api = masked.as_api()
    assert api is not None
    assert api["masked"] is True and api["base64"] is None
    assert api["decoded"]["data"] == {"user": {"email": "***", "age": 3}}
    assert (api["decoded"]["schema_id"], api["decoded"]["format"]) == (4, "avro")
    assert json.loads(api["text"]) == {"user": {"email": "***", "age": 3}}
    assert "a@x" not in json.dumps(api)
    assert decoded.data["user"]["email"] == "a@x"


def test_a_payload_a_schema_failed_to_read_is_redacted_whole_when_fields_are_asked_for():
    # Avro bytes are often valid UTF-8: with the registry away they would show the field as text.
    payload = Payload.of(b"\x00\x00\x00\x00\x04\x1eann@example.com").with_decoding(
        DecodeResult(error="the schema registry did not answer")
    )
    assert payload.text is not None
    masked = mask_payload(payload, rules({"fields": ["email"]}))
    assert (masked.text, masked.masked) == ("***", True)


def test_a_payload_not_decoded_keeps_its_reason_and_is_redacted_whole():
    REASON = "unknown schema id 9"
    payload = Payload.of(b"\x00\x00\x00\x00\x09\xff").with_decoding(DecodeResult(error=REASON))
    api = mask_payload(payload, rules({"fields": ["email"]})).as_api()
    assert api == {
        "text": "***",
        "base64": None,
        "masked": True,
        "decoded": None,
        "decode_error": "unknown schema id 9",
    }


def test_headers_by_name_and_by_content():
    found = rules({"fields": ["Authorization", "$.user.email"]})
    assert mask_header("authorization", Payload.of(b"Bearer abc"), found).text == "***"
    by_path = mask_header("ctx", Payload.of(b'{"user": {"email": "a@x"}}'), found)
    assert json.loads(by_path.text or "") == {"user": {"email": "***"}}
    untouched = Payload.of(b"text/plain")
    assert mask_header("content-type", untouched, found) is untouched


def test_a_tree_too_deep_to_walk_is_redacted_whole():
    deep: Any = "a@x"
    for _ in range(3000):
        deep = {"k": deep}
    with pytest.raises(masking._Unreadable):
        mask_tree(deep, rules({"pattern": "a@x"}))


def test_mask_tree_answers_unchanged_data_as_the_same_object():
    data = {"a": [1, {"b": "c"}]}
    out, changed = mask_tree(data, rules({"fields": ["zzz"]}))
    assert out is data and not changed


# ---- the tail: masked once per message, per socket after the hub ---------------------------------


async def _never(text: str) -> None:
    raise AssertionError("not started")


def test_a_tail_item_is_masked_once_for_every_socket_that_masks():
    covering = rules({"fields": ["email"]})
    item = nats_item("users.new", b'{"email": "a@x", "n": 1}', {"x-email": "a@x"}, reply=None, seq=None, rules=covering)
    plain = nats_item("users.new", b'{"email": "b@x"}', None, reply=None, seq=None)
    seen: list[str] = []
    masked_one = Subscriber(_never, limits=Limits(), mask=True)
    masked_two = Subscriber(_never, limits=Limits(), mask=True)
    unmasked = Subscriber(_never, limits=Limits(), on_covered=lambda: seen.append("covered"))
    for sub in (masked_one, masked_two, unmasked):
        sub.offer([item, plain, item])
    assert item.masked() is item.masked()
    shown = json.loads(masked_one.buffer[0])
    assert shown["value"] == {"text": '{"email": "***", "n": 1}', "base64": None, "masked": True}
    assert masked_one.buffer[0] is masked_two.buffer[0] is item.masked().json
    assert json.loads(masked_one.buffer[1])["value"]["text"] == '{"email": "b@x"}'
    assert json.loads(unmasked.buffer[0])["value"]["text"] == '{"email": "a@x", "n": 1}'
    # Audited once per subscription, not per message.
    assert seen == ["covered"]


def test_a_tail_filter_runs_on_the_masked_view():
    covering = rules({"fields": ["email"]})
    item = nats_item("u", b'{"email": "a@x"}', None, reply=None, seq=None, rules=covering)
    masked = Subscriber(_never, needle=b"a@x", limits=Limits(), mask=True)
    unmasked = Subscriber(_never, needle=b"a@x", limits=Limits())
    masked.offer([item])
    unmasked.offer([item])
    assert (masked.matched, unmasked.matched) == (0, 1)
    stars = Subscriber(_never, needle=b'"***"', limits=Limits(), mask=True)
    stars.offer([item])
    assert stars.matched == 1
