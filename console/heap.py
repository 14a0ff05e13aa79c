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

FULL_PASS_EVERY = 100


def freeze_startup_objects() -> int:
    """Import every view (through the URL patterns), collect once, freeze what is left; the number frozen."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports every view module, as the first request would
    gc.collect()
    gc.freeze()
    # A full pass is otherwise held back until a quarter as many objects as it last found have moved to the
    # oldest generation; with the startup objects frozen it found few, so it would run every 10th pass of the
    # middle generation (several times a second under a live tail). Every 100th instead.
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_PASS_EVERY)
    return gc.get_freeze_count()
