from django.urls import path

from console.sockets import HealthSocket, TailSocket

websocket_urlpatterns = [
    path("ws/health/", HealthSocket.as_asgi()),
    path("ws/clusters/<slug:cluster>/tail", TailSocket.as_asgi()),
]


def tail_socket_path(slug: str) -> str:
    """Where a page's script opens its live tail (WebSocket routes are not in Django's URL resolver)."""
    return f"/ws/clusters/{slug}/tail"
