"""The objects a process makes while it starts, kept out of the cycle collector's full passes.

Django, its apps, the URL patterns with every view module and the clients' libraries make some
150,000 objects that live as long as the process. Python's full collection walks every one of
them: under the load of message pages (500 decoded messages each) one ran every 20 or so requests
and added about 150 ms to that request. Frozen (``gc.freeze``), they are left out of every pass;
a full collection then takes a few milliseconds. Whatever they hold is still freed by reference
counting when the process lets go of it.
"""

from __future__ import annotations

import gc


def freeze_startup_objects() -> int:
    """Import every view (through the URL patterns), collect once, freeze what is left; the number frozen."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports every view module, as the first request would
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
