"""Every page has a JSON twin: one handler, two renderers.

``endpoint()`` registers ``/X`` (HTML, when a template is given) and
``/api/v1/X`` (JSON) for the same async handler. The handler returns plain
data in the API's shape (or a ``Result`` that adds a status and page-only
objects); typed errors become a banner on the page and ``{"error", "field"}``
with the right status under /api/. ``action()`` is the page form of a write.

URL names follow one scheme: ``<area>-<thing>`` for a page (``kafka-topic``),
``api-<area>-<thing>`` for its JSON twin and ``<area>-<thing>-<verb>`` for a
page form that writes (``kafka-topic-delete``, whose API twin is the DELETE or
POST of ``api-kafka-topic`` or ``api-kafka-topic-<verb>``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.models import User
from django.core.serializers.json import DjangoJSONEncoder
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse, QueryDict
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import render
from django.urls import URLPattern, path
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django_htmx.middleware import HtmxDetails

from console.access import (
    LOGIN_REQUIRED,
    Forbidden,
    Unauthenticated,
    can_operate,
    can_stop,
    request_access,
    require,
)
from streams import audit, jsontext, registry
from streams.clusters import ClusterConfig
from streams.errors import InvalidInput, StreamdeskError
from streams.models import AuditEvent

if TYPE_CHECKING:
    from streams.kafka.adapter import KafkaAdapter
    from streams.nats.adapter import NatsAdapter

logger = logging.getLogger("console.web")
# The database did not answer (connect or statement timeout, lost connection).
DATABASE_DOWN = (OperationalError, InterfaceError)
DATABASE_UNAVAILABLE = "The database is unavailable; try again shortly."

MAX_JSON_BODY = 2 * 1024 * 1024


class HtmxHttpRequest(HttpRequest):
    """What django-htmx's middleware makes of every request."""

    htmx: HtmxDetails


@dataclass
class Result:
    """A handler's answer: the API's data, its status, and the objects only the page renders.

    ``page`` is the one way a handler hands page-only things (payload objects with
    their hex and pretty-JSON views, links, readable durations) to its template; the
    JSON twin never sees them.
    """

    data: dict[str, Any]
    status: int = 200
    page: dict[str, Any] = field(default_factory=dict)


@dataclass
class Ctx:
    request: HtmxHttpRequest
    user: User
    args: dict[str, Any]
    cluster: ClusterConfig | None = None
    is_api: bool = False
    operator: bool = False
    _body: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def query(self) -> QueryDict:
        return self.request.GET

    @property
    def config(self) -> ClusterConfig:
        if self.cluster is None:
            raise RuntimeError("this endpoint has no cluster")
        return self.cluster

    @property
    def slug(self) -> str:
        return self.config.slug

    @property
    def kafka(self) -> KafkaAdapter:
        return registry.kafka(self.config)

    @property
    def nats(self) -> NatsAdapter:
        return registry.nats(self.config)

    def body(self) -> dict[str, Any]:
        """The JSON object of an API call, or the form fields of a page post."""
        if self._body is not None:
            return self._body
        request = self.request
        if not self.is_api:
            self._body = {k: request.POST.get(k) for k in request.POST}
            return self._body
        if len(request.body) > MAX_JSON_BODY:
            raise InvalidInput("The request body is too large.", field=None)
        if not request.body:
            self._body = {}
            return self._body
        try:
            data = jsontext.loads(request.body)
        except jsontext.TooDeep as exc:
            raise InvalidInput(f"The request body is not valid JSON: {exc}.", field=None) from None
        except (ValueError, UnicodeDecodeError):
            raise InvalidInput("The request body is not valid JSON.", field=None) from None
        if not isinstance(data, dict):
            raise InvalidInput("The request body must be a JSON object.", field=None)
        self._body = data
        return data


Handler = Callable[[Ctx], Awaitable[dict[str, Any] | Result]]
PageContext = Callable[[Ctx, dict[str, Any]], Awaitable[dict[str, Any]]]
H = TypeVar("H", bound=Handler)


def writes(action_name: str, *, stops: bool = False) -> Callable[[H], H]:
    """Names the audit action of a write handler, so a refused attempt is audited under it too.

    ``stops=True`` marks a write that only stops something (cancelling a bulk job, pausing a
    managed consumer): read-only mode allows it, so that an operator can still stop things.
    """

    def mark(handler: H) -> H:
        handler.audit_action = action_name  # type: ignore[attr-defined]
        handler.stops = stops  # type: ignore[attr-defined]
        return handler

    return mark


def reads(handler: H) -> H:
    """Marks a POST that only reads (a search, a compatibility check): viewers and read-only tokens may
    call it, and read-only mode allows it."""
    handler.reads = True  # type: ignore[attr-defined]
    return handler


def _stops(handler: Handler | None) -> bool:
    return bool(getattr(handler, "stops", False))


def json_response(data: Any, status: int = 200) -> JsonResponse:
    return JsonResponse(data, status=status, encoder=DjangoJSONEncoder, json_dumps_params={"ensure_ascii": False})


def json_error(message: str, status: int, field: str | None = None) -> JsonResponse:
    return json_response({"error": message, "field": field}, status=status)


async def arender(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    """Render off the event loop: templates and context processors may touch the database."""
    return await sync_to_async(render)(request, template, context, status=status)


async def error_page(request: HttpRequest, message: str, status: int, field: str | None = None) -> HttpResponse:
    template = "partials/error_banner.html" if getattr(request, "htmx", False) else "error.html"
    return await arender(request, template, {"error": message, "field": field, "status": status}, status)


async def _resolve_cluster(kwargs: dict[str, Any], kind: str | None) -> ClusterConfig | None:
    slug = kwargs.pop("cluster", None)
    if slug is None:
        return None
    return await registry.aget_config(slug, kind)


def _csrf_failure(request: HttpRequest) -> HttpResponse | None:
    """API calls on a session cookie need the CSRF token; bearer-token calls do not."""
    if request.method in ("GET", "HEAD", "OPTIONS") or request.headers.get("Authorization", "").startswith("Bearer "):
        return None
    checker = CsrfViewMiddleware(lambda r: HttpResponse())
    return checker.process_view(request, lambda r: HttpResponse(), (), {})


async def _refused(user: Any, handler: Handler, request: HttpRequest, slug: str | None, exc: Forbidden) -> None:
    """A write refused for want of the role (or in read-only mode) leaves its audit record too."""
    action_name = getattr(handler, "audit_action", "")
    if action_name and isinstance(user, User):
        await audit.record(
            user,
            action_name,
            cluster=slug or "",
            target=request.path,
            result=AuditEvent.Result.DENIED,
            message=exc.message,
        )


def _request(request: HttpRequest) -> HtmxHttpRequest:
    return cast(HtmxHttpRequest, request)


def endpoint(
    route: str,
    *,
    name: str,
    kind: str | None = None,
    template: str | None = None,
    partial: str | None = None,
    get: Handler | None = None,
    post: Handler | None = None,
    delete: Handler | None = None,
    patch: Handler | None = None,
    put: Handler | None = None,
    page: dict[str, Any] | None = None,
    context: PageContext | None = None,
    form: str | None = None,
) -> list[URLPattern]:
    """URL patterns for an API resource and, with ``template``, its page.

    ``page`` is fixed context for the template (the menu entry, the tab); ``context``
    computes more of it, for the page only, after the handler answered. With ``form``
    (a template), the page also takes the POST of its own form: the same ``post``
    handler runs (operators only) and its answer (``outcome``) or error (``form_error``)
    is rendered in ``form`` for htmx, or in the whole page otherwise, which stays put
    rather than redirecting, so that what the broker answered can be read.
    """
    handlers: dict[str, Handler] = {}
    if get:
        handlers["GET"] = get
    if post:
        handlers["POST"] = post
    if delete:
        handlers["DELETE"] = delete
    if patch:
        handlers["PATCH"] = patch
    if put:
        handlers["PUT"] = put

    async def api_view(request: HttpRequest, **kwargs: Any) -> HttpResponse:
        handler = handlers.get(request.method or "")
        if handler is None:
            response = json_error(f"{request.method} is not allowed here.", 405)
            response["Allow"] = ", ".join(handlers)
            return response
        user: Any = None
        try:
            access = await request_access(request)
            user = access.user
            if not access.authenticated:
                raise Unauthenticated(access.refusal or LOGIN_REQUIRED)
            # Before the role check: a cross-site page riding on someone's session cookie
            # must not leave "denied" audit records under their name.
            if _csrf_failure(request) is not None:
                return json_error("CSRF token missing or wrong; send X-CSRFToken or use a bearer token.", 403)
            write = request.method != "GET" and not getattr(handler, "reads", False)
            try:
                await require(user, write=write, stops=_stops(handler), token=access.token)
            except Forbidden as exc:
                if write:
                    await _refused(user, handler, request, kwargs.get("cluster"), exc)
                raise
            cluster = await _resolve_cluster(kwargs, kind)
            ctx = Ctx(request=_request(request), user=cast(User, user), args=kwargs, cluster=cluster, is_api=True)
            outcome = await handler(ctx)
        except Unauthenticated as exc:
            return json_error(exc.message, 401)
        except Forbidden as exc:
            return json_error(exc.message, 403)
        except StreamdeskError as exc:
            return json_error(exc.message, exc.status, exc.field)
        except DATABASE_DOWN as exc:
            logger.warning("API %s %s: database unavailable: %s", request.method, request.path, exc)
            return json_error(DATABASE_UNAVAILABLE, 503)
        except Exception:
            logger.exception("API %s %s failed", request.method, request.path)
            return json_error("Internal error; the server log has the details.", 500)
        if isinstance(outcome, Result):
            return json_response(outcome.data, outcome.status)
        return json_response(outcome)

    api_view.__name__ = f"api_{name.replace('-', '_')}"
    # What console.openapi describes the route from.
    api_view.api_route, api_view.api_handlers = route, handlers  # type: ignore[attr-defined]
    patterns = [path(f"api/v1/{route}", login_not_required(csrf_exempt(api_view)), name=f"api-{name}")]

    if template and get:
        read = get
        fixed = page or {}
        # A page form posts; the API may take the same write as a PATCH.
        write = (post or patch) if form else None

        async def page_view(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            posting = request.method == "POST" and write is not None
            if request.method not in ("GET", "HEAD") and not posting:
                allowed = "GET, POST" if write is not None else "GET"
                return HttpResponse(status=405, headers={"Allow": allowed})
            user = await request.auser()
            request.user = user
            htmx = getattr(request, "htmx", None)
            status = 200
            try:
                if posting:
                    assert write is not None
                    try:
                        await require(user, write=True, stops=_stops(write))
                    except Forbidden as exc:
                        await _refused(user, write, request, kwargs.get("cluster"), exc)
                        raise
                else:
                    await require(user, write=False)
                cluster = await _resolve_cluster(kwargs, kind)
                ctx = Ctx(request=_request(request), user=cast(User, user), args=kwargs, cluster=cluster)
                ctx.operator = await can_operate(user)
                # "may_stop": the controls that only stop something, shown in read-only mode too.
                values: dict[str, Any] = {
                    "cluster": cluster,
                    "operator": ctx.operator,
                    "may_stop": await can_stop(user),
                    **kwargs,
                    **fixed,
                }
                if posting:
                    assert write is not None
                    outcome, status = await _form_outcome(write, ctx)
                    values.update(outcome)
                    if htmx:
                        # The form's answer alone, in place of the form's result area.
                        return await arender(request, form or template, values, status)
                result = _as_result(await read(ctx))
                values.update({"data": result.data, **result.page})
                if context is not None:
                    values.update(await context(ctx, result.data))
            except Forbidden as exc:
                return await error_page(request, exc.message, 403)
            except StreamdeskError as exc:
                return await error_page(request, exc.message, exc.status, exc.field)
            # A history restore (the browser's back button after a cache miss) needs the whole page.
            chosen = partial if partial and htmx and not htmx.history_restore_request else template
            response = await arender(request, chosen, values, status)
            patch_vary_headers(response, ["HX-Request"])
            return response

        page_view.__name__ = f"page_{name.replace('-', '_')}"
        patterns.append(path(route, page_view, name=name))
    return patterns


def _as_result(outcome: dict[str, Any] | Result) -> Result:
    return outcome if isinstance(outcome, Result) else Result(outcome)


async def _form_outcome(handler: Handler, ctx: Ctx) -> tuple[dict[str, Any], int]:
    """A page form's write: its answer as ``outcome`` (and its page objects), or its error, with the status."""
    try:
        result = _as_result(await handler(ctx))
    except Forbidden:
        raise
    except StreamdeskError as exc:
        return {"form_error": exc.message, "form_field": exc.field, "form_status": exc.status}, exc.status
    return {"outcome": result.data, **result.page}, result.status


def action(
    route: str,
    *,
    name: str,
    handler: Handler,
    redirect: Callable[[Ctx, dict[str, Any]], str],
    kind: str | None = None,
) -> list[URLPattern]:
    """A page form that changes broker state (operators only), POST-redirect-GET.

    The handler is the same one the API's POST/DELETE uses; ``ctx.body()`` holds
    the form fields. Success and failure come back as a message on the next page.
    """
    from django.contrib import messages

    async def form_view(request: HttpRequest, **kwargs: Any) -> HttpResponse:
        if request.method != "POST":
            return HttpResponse(status=405, headers={"Allow": "POST"})
        user = await request.auser()
        request.user = user
        referer = request.headers.get("Referer", "")
        safe = url_has_allowed_host_and_scheme(referer, {request.get_host()}, require_https=request.is_secure())
        back = referer if referer and safe else "/"
        try:
            try:
                await require(user, write=True, stops=_stops(handler))
            except Forbidden as exc:
                await _refused(user, handler, request, kwargs.get("cluster"), exc)
                raise
            cluster = await _resolve_cluster(kwargs, kind)
            ctx = Ctx(request=_request(request), user=cast(User, user), args=kwargs, cluster=cluster, operator=True)
            outcome = await handler(ctx)
        except Forbidden as exc:
            return await error_page(request, exc.message, 403)
        except StreamdeskError as exc:
            if exc.status == 404:
                return await error_page(request, exc.message, 404)
            await sync_to_async(messages.error)(request, exc.message)
            return HttpResponseRedirect(back)
        data = outcome.data if isinstance(outcome, Result) else outcome
        if data.get("message"):
            await sync_to_async(messages.success)(request, str(data["message"]))
        return HttpResponseRedirect(redirect(ctx, data))

    form_view.__name__ = f"form_{name.replace('-', '_')}"
    return [path(route, form_view, name=name)]


def require_confirmation(ctx: Ctx, expected: str, field: str = "confirm", *, what: str = "the change") -> None:
    """Page forms carry a typed confirmation; the server checks it too (scripts use the API, which has none)."""
    if ctx.is_api:
        return
    if str(ctx.body().get(field) or "") != expected:
        raise InvalidInput(f"Type {expected} to confirm {what}.", field=field)
