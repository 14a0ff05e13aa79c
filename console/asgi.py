"""ASGI entry point: ``daphne console.asgi:application``."""

from __future__ import annotations

import os

import django
from django.core.handlers.asgi import ASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")


class WholeChunks(ASGIHandler):
    """Django's handler, handing Daphne each part of a streamed body whole up to 1 MiB rather than cut into
    64 KiB pieces: an export's chunk is then one write and one wait for the socket (console.backpressure)."""

    chunk_size = 1024 * 1024


# As django.core.asgi.get_asgi_application, with the handler above.
django.setup(set_prefix=False)
django_asgi_app = WholeChunks()

from channels.auth import AuthMiddlewareStack  # noqa: E402 - needs Django set up first
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from console.backpressure import Backpressure  # noqa: E402
from console.daphne_uploads import stop_form_parsing  # noqa: E402
from console.heap import freeze_startup_objects  # noqa: E402
from console.routing import websocket_urlpatterns  # noqa: E402
from console.socket_auth import OriginOrBearer  # noqa: E402

stop_form_parsing()

application = ProtocolTypeRouter(
    {
        "http": Backpressure(django_asgi_app),
        "websocket": OriginOrBearer(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)

freeze_startup_objects()
