"""Credentials in server URLs (``nats://user:pass@host``) are never shown to anyone.

A cluster's servers and monitoring URL may carry a user and password (or a token)
in their userinfo. ``display_url`` / ``display_servers`` strip it from a configured
URL wherever one is shown (pages, the API, the admin); ``redact_urls`` strips it
from free text that may quote a URL (error messages, audit records, log lines),
and ``RedactingFormatter`` applies that to everything the console logs.

Stripping errs on the side of hiding: a raw ``@`` inside a password hides
everything up to the last ``@`` of the URL, and in free text a host that follows a
credentialled URL without a scheme of its own may be hidden with it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

# scheme://, then one or more userinfo segments each ending in "@" (a raw "@" in a
# password makes two). Commas are allowed inside: a password may hold one, and
# hiding a host too much is better than showing a password.
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-_]*://)(?:[^\s/?#@'\"<>\[\]]*@|\[[^\s\]]*@)+")


def display_url(url: str) -> str:
    """One configured URL (or ``host:port``) without its userinfo."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    if "@" not in rest:
        return url
    return f"{scheme}{sep}{rest.rpartition('@')[2]}"


def display_servers(servers: Iterable[str]) -> list[str]:
    return [display_url(server) for server in servers]


def redact_urls(text: str) -> str:
    """Free text with the userinfo of every ``scheme://user:pass@host`` in it removed."""
    if "@" not in text:
        return text
    return _USERINFO.sub(r"\g<scheme>", text)


class RedactingFormatter(logging.Formatter):
    """The project's log format, with URL credentials removed from messages and tracebacks."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_urls(super().format(record))
