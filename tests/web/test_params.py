"""Strict request parameters: bad input is a 400 naming the field, never a 500."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from console.params import bool_param, datetime_param, int_param
from streams.errors import InvalidInput


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-01-31T12:00:00Z", datetime(2026, 1, 31, 12, tzinfo=UTC)),
        ("2026-01-31T12:00:00", datetime(2026, 1, 31, 12, tzinfo=UTC)),
        ("1769860800000", datetime(2026, 1, 31, 12, tzinfo=UTC)),
        ("", None),
    ],
)
def test_times_parse_as_utc(raw, expected):
    assert datetime_param({"since": raw}, "since") == expected


@pytest.mark.parametrize("raw", ["99999999999999999", "yesterday", "1969-12-31T23:59:59Z", "-5"])
def test_bad_times_name_the_field(raw):
    with pytest.raises(InvalidInput) as caught:
        datetime_param({"since": raw}, "since")
    assert caught.value.field == "since"


@pytest.mark.parametrize(("raw", "expected"), [("on", True), ("true", True), (True, True), ("0", False), ("", False)])
def test_flags(raw, expected):
    assert bool_param({"dry_run": raw}, "dry_run") is expected


def test_garbage_flag_and_int_are_refused():
    with pytest.raises(InvalidInput, match="dry_run"):
        bool_param({"dry_run": "perhaps"}, "dry_run")
    with pytest.raises(InvalidInput, match="limit must be at most 500"):
        int_param({"limit": "501"}, "limit", maximum=500)
    with pytest.raises(InvalidInput, match="must be an integer"):
        int_param({"limit": True}, "limit")


def test_float_param():
    from console.params import float_param

    assert float_param({"r": "2.5"}, "r", minimum=0.1, maximum=10) == 2.5
    assert float_param({}, "r", 1.0, minimum=0.1, maximum=10) == 1.0
    for bad in ("x", True, "0", "11"):
        with pytest.raises(InvalidInput) as err:
            float_param({"r": bad}, "r", minimum=0.1, maximum=10)
        assert err.value.field == "r"
