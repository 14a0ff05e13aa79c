from typing import Any

from django.conf import settings
from django.http import HttpRequest

from streams import sharedcache


def streamdesk(request: HttpRequest) -> dict[str, Any]:
    return {
        "read_only": settings.READ_ONLY,
        "nav": request.path.strip("/").split("/")[0],
        "degraded": sharedcache.degraded(),
    }
