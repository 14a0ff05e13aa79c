"""Configuration errors, with stable ids, and the deploy-time checks.

streamdesk.E001  an environment variable is malformed (named in the message)
streamdesk.E002  a cluster definition (env or STREAMDESK_CLUSTERS) is unusable
streamdesk.E003  the policies file (STREAMDESK_POLICIES) is unusable
streamdesk.W001  DEBUG is on while ALLOWED_HOSTS allows any host

E001, E002 and E003 stop every process at start (web, Celery worker and beat, runconsumers,
every management command): a value that cannot be read must never run with a default.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Warning, register
from django.core.exceptions import ImproperlyConfigured

from console.env import CONFIG_ERRORS
from streams.clusters import ClusterConfigError, static_clusters
from streams.policies import PolicyError
from streams.policies import load as load_policies


def configuration_errors() -> list[str]:
    """One line per unusable setting, each naming the variable or file to fix."""
    errors = [f"streamdesk.E001 {name}: {reason} (fix or unset {name})" for name, reason in CONFIG_ERRORS]
    try:
        static_clusters()
    except ClusterConfigError as exc:
        errors.append(f"streamdesk.E002 {exc} (fix {exc.source})")
    if settings.POLICIES_FILE:
        try:
            load_policies(settings.POLICIES_FILE)
        except PolicyError as exc:
            errors.append(f"streamdesk.E003 STREAMDESK_POLICIES: {exc}")
    return errors


def refuse_to_start() -> None:
    if errors := configuration_errors():
        raise ImproperlyConfigured("Streamdesk cannot start:\n  " + "\n  ".join(errors))


@register(deploy=True)
def debug_hosts_check(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    if settings.DEBUG and "*" in settings.ALLOWED_HOSTS:
        return [Warning("DEBUG is on and ALLOWED_HOSTS allows any host.", id="streamdesk.W001")]
    return []
