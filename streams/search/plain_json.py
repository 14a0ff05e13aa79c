"""Pieces of an exported JSON line written as text directly, for messages no schema decodes and no
rule masks: the same characters ``json.dumps(..., ensure_ascii=False)`` gives for the API's shape,
without building its dicts and walking them again in the encoder (an export's cost per message)."""

from __future__ import annotations

from binascii import b2a_base64
from json.encoder import encode_basestring  # the C one where there is one

# A str as a JSON string, quoted, as json.dumps(..., ensure_ascii=False) writes it.
quote = encode_basestring


def _text_and_base64(raw: bytes) -> str:
    try:
        text = quote(raw.decode("utf-8"))
    except UnicodeDecodeError:
        text = "null"
    return f'"text": {text}, "base64": "{b2a_base64(raw, newline=False).decode("ascii")}"'


def payload(raw: bytes | None) -> str:
    """``{"text", "base64"}``, or null."""
    return "null" if raw is None else f"{{{_text_and_base64(raw)}}}"


def undecoded(raw: bytes | None) -> str:
    """``{"text", "base64", "decoded": null, "decode_error": null}``, or null: a payload no schema read."""
    if raw is None:
        return "null"
    return f'{{{_text_and_base64(raw)}, "decoded": null, "decode_error": null}}'


def string(text: str | None) -> str:
    return "null" if text is None else quote(text)
