"""The server-side filter: a substring of the raw bytes of the key, the value or a header value.

It looks at whole payloads, before any display cut, so a match deep inside a large
value is found even though the row shows only its beginning.
"""

from __future__ import annotations

from collections.abc import Iterable


def matches(haystack: Iterable[bytes], needle: bytes | None) -> bool:
    if not needle:
        return True
    return any(needle in part for part in haystack)
