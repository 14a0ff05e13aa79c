"""ASGI entry point: ``daphne console.asgi:application``."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402 - needs Django set up first
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from console.backpressure import Backpressure  # noqa: E402
from console.daphne_uploads import stop_form_parsing  # noqa: E402
from console.routing import websocket_urlpatterns  # noqa: E402
from console.socket_auth import OriginOrBearer  # noqa: E402

stop_form_parsing()

application = ProtocolTypeRouter(
    {
        "http": Backpressure(django_asgi_app),
        "websocket": OriginOrBearer(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
