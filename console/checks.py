"""System checks for configuration, with stable ids.

streamdesk.E001  an environment variable is malformed (named in the message)
streamdesk.E002  a cluster definition (env or STREAMDESK_CLUSTERS) is unusable
streamdesk.W001  DEBUG is on while ALLOWED_HOSTS allows any host
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register

from console.env import CONFIG_ERRORS
from streams.clusters import ClusterConfigError, static_clusters


@register()
def environment_check(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    return [
        Error(f"{name}: {reason}", hint=f"Fix or unset {name}.", id="streamdesk.E001") for name, reason in CONFIG_ERRORS
    ]


@register()
def clusters_check(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    try:
        static_clusters()
    except ClusterConfigError as exc:
        return [Error(str(exc), hint=f"Fix {exc.source}.", id="streamdesk.E002")]
    return []


@register(deploy=True)
def debug_hosts_check(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    if settings.DEBUG and "*" in settings.ALLOWED_HOSTS:
        return [Warning("DEBUG is on and ALLOWED_HOSTS allows any host.", id="streamdesk.W001")]
    return []
