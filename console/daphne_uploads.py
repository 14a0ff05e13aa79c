"""Request bodies under Daphne reach Django unparsed.

Twisted's ``http.Request`` reads a whole ``multipart/form-data`` body into memory and
parses it into ``request.args`` before Daphne hands the request on, unless it was made
with ``parsePOSTFormSubmission=False``; Daphne never reads those args (it passes the raw
body to the application, where Django spools uploads to disk), so the parse only costs:
a 20 MB upload grew the web process by some 250 MB and took seconds before Django saw a
byte. Daphne's request class makes its requests without the flag, so it is turned off here.
"""

from __future__ import annotations

from typing import Any


def stop_form_parsing() -> bool:
    """Turn Twisted's form parsing off for Daphne's requests; False when Daphne is not there."""
    try:
        from daphne.http_protocol import WebRequest
    except ImportError:
        return False
    if getattr(WebRequest, "_streamdesk_unparsed", False):
        return True
    original = WebRequest.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self._parsePOSTFormSubmission = False

    WebRequest.__init__ = __init__
    WebRequest._streamdesk_unparsed = True
    return True
