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
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.models import User
from django.contrib.auth.views import redirect_to_login
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
    ACCESS_DENIED,
    LOGIN_REQUIRED,
    NO_POLICY,
    OPERATORS_ONLY,
    Access,
    Forbidden,
    Refused,
    Unauthenticated,
    can_stop,
    evaluator,
    request_access,
    scope_refusal,
)
from console.resources import ANY_POLICY, OPERATORS_ROLE, SIGNED_IN, Resource, Target
from streams import adapters, audit, jsontext, policies
from streams.clusters import ClusterConfig
from streams.errors import InvalidInput, StreamdeskError
from streams.models import ApiToken, AuditEvent
from streams.policies import Evaluator

if TYPE_CHECKING:
    from streams.kafka.adapter import KafkaAdapter
    from streams.nats.adapter import NatsAdapter

logger = logging.getLogger("console.web")
# The database did not answer (connect or statement timeout, lost connection).
DATABASE_DOWN = (OperationalError, InterfaceError)
DATABASE_UNAVAILABLE = "The database is unavailable; try again shortly."

MAX_JSON_BODY = 2 * 1024 * 1024
T = TypeVar("T")


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
    policies: Evaluator = field(default_factory=lambda: Evaluator(()))
    token: ApiToken | None = None
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
        return adapters.kafka(self.config)

    @property
    def nats(self) -> NatsAdapter:
        return adapters.nats(self.config)

    def may(self, action: str, kind: str, name: str, cluster: str | None = None) -> bool:
        """Whether a policy lets the user ``action`` the ``kind`` named ``name`` (in this endpoint's cluster);
        the token's scope and read-only mode are the endpoint's to apply, to its writes."""
        return self.policies.may(action, cluster or self.slug, kind, name)

    def visible(self, kind: str, items: list[T], key: Callable[[T], str] | None = None) -> list[T]:
        """The items of a listing the user may ``view`` (``key`` names an item; default: the item itself)."""
        name = key or str
        return [item for item in items if self.policies.may(policies.VIEW, self.slug, kind, name(item))]

    def need(self, action: str, kind: str, name: str, cluster: str | None = None) -> None:
        """For what a handler learns only from the request's content (a stored message's subject)."""
        decision = self.policies.decide(action, cluster or self.slug, kind, name)
        if not decision.allowed:
            raise Refused(decision)

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
V = TypeVar("V", bound=Callable[..., Any])
UNDECLARED = "No access policy is declared for this page, so it is closed to everyone."


def writes(action_name: str, *, needs: str, stops: bool = False) -> Callable[[H], H]:
    """Names the audit action of a write handler, so a refused attempt is audited under it too, and
    the policy action it ``needs`` on the endpoint's resource (``publish``, ``edit``, ``delete``, ...).

    ``stops=True`` marks a write that only stops something (cancelling a bulk job, pausing a
    managed consumer): read-only mode allows it, so that an operator can still stop things.
    """

    def mark(handler: H) -> H:
        if needs not in policies.ACTIONS:
            raise ValueError(f"unknown policy action {needs!r}")
        handler.audit_action = action_name  # type: ignore[attr-defined]
        handler.needs = needs  # type: ignore[attr-defined]
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
    return await adapters.aget_config(slug, kind)


def _csrf_failure(request: HttpRequest) -> HttpResponse | None:
    """API calls on a session cookie need the CSRF token; bearer-token calls do not."""
    if request.method in ("GET", "HEAD", "OPTIONS") or request.headers.get("Authorization", "").startswith("Bearer "):
        return None
    checker = CsrfViewMiddleware(lambda r: HttpResponse())
    return checker.process_view(request, lambda r: HttpResponse(), (), {})


async def _refused(
    user: Any, handler: Handler | None, request: HttpRequest, slug: str | None, exc: Forbidden, *, write: bool
) -> None:
    """A write refused (by a policy, the token's scope or read-only mode) and any read a policy refused
    leave an audit record."""
    action_name = getattr(handler, "audit_action", "") if write else ""
    decision = exc.decision if isinstance(exc, Refused) else None
    if not action_name and decision is not None:
        action_name = ACCESS_DENIED
    if action_name and isinstance(user, User):
        params: dict[str, Any] = {}
        if decision is not None:
            params = {"action": decision.action, "kind": decision.kind, "name": decision.name}
        await audit.record(
            user,
            action_name,
            cluster=(decision.cluster if decision is not None else None) or slug or "",
            target=request.path,
            params=params,
            result=AuditEvent.Result.DENIED,
            message=exc.message,
        )


WRITE_ACTIONS = tuple(a for a in policies.ACTIONS if a not in policies.READ_ACTIONS)


async def authorize(ctx: Ctx, resource: Resource | None, handler: Handler | None, *, write: bool) -> Target | None:
    """Asks the policies whether ``ctx``'s user may call ``handler`` on ``resource``; raises Forbidden if not.

    Returns what the request acts on (None for the pages about no broker resource)."""
    action = (getattr(handler, "needs", None) if write else resource.reads) if resource is not None else None
    if resource is None or action is None:
        raise Forbidden(UNDECLARED)
    # A read that needs "publish" (a job's page, the publish form) is still a read.
    refusal = scope_refusal(action, token=ctx.token, stops=_stops(handler)) if write else None
    if refusal is not None:
        raise Forbidden(refusal)
    if resource.kind == SIGNED_IN:
        return None
    if resource.kind == OPERATORS_ROLE:
        if not await can_stop(ctx.user):
            raise Forbidden(OPERATORS_ONLY)
        return None
    if not ctx.policies.anything:
        raise Forbidden(NO_POLICY)
    if resource.kind == ANY_POLICY:
        return None
    target = await resource.target(ctx, write)
    if target.cluster is None and target.name is None:
        return target  # a listing across clusters: its handler shows only what may be viewed
    cluster = target.cluster or ""
    if target.name is None:
        decision = ctx.policies.decide_some(action, cluster, target.kind)
    else:
        decision = ctx.policies.decide(action, cluster, target.kind, target.name)
    if not decision.allowed:
        raise Refused(decision)
    return target


async def check_view(request: HttpRequest, access: Access, action: str, cluster: str, kind: str, name: str) -> None:
    """The plain views' (downloads') decision, refused and audited as ``endpoint()``'s are."""
    refusal = scope_refusal(action, token=access.token)
    if refusal is not None:
        raise Forbidden(refusal)
    decision = (access.policies or await evaluator(access.user)).decide(action, cluster, kind, name)
    if not decision.allowed:
        exc = Refused(decision)
        await _refused(access.user, None, request, cluster, exc, write=False)
        raise exc


def guarded(resource: Resource) -> Callable[[V], V]:
    """Declares what a plain view checks (with ``check_view``), as ``endpoint()`` declares its resource."""

    def mark(view: V) -> V:
        view.resource = resource  # type: ignore[attr-defined]
        return view

    return mark


def _writes_here(ctx: Ctx, target: Target | None) -> bool:
    """Whether the page shows write controls: some write on what it shows is granted (read-only mode aside)."""
    ev = ctx.policies
    if target is None or target.cluster is None:
        return any(p.actions.intersection(WRITE_ACTIONS) for p in ev.policies)
    if target.name is None:
        return any(ev.decide_some(a, target.cluster, target.kind).allowed for a in WRITE_ACTIONS)
    return any(ev.may(a, target.cluster, target.kind, target.name) for a in WRITE_ACTIONS)


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
    resource: Resource | None = None,
) -> list[URLPattern]:
    """URL patterns for an API resource and, with ``template``, its page.

    ``resource`` says what the URL names, for the policies (console.resources): reads need its
    action, writes the one their handler declares; without one, the endpoint is closed.

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
            # Before the policy check: a cross-site page riding on someone's session cookie
            # must not leave "denied" audit records under their name.
            if _csrf_failure(request) is not None:
                return json_error("CSRF token missing or wrong; send X-CSRFToken or use a bearer token.", 403)
            write = request.method != "GET" and not getattr(handler, "reads", False)
            slug = kwargs.get("cluster")
            try:
                cluster = await _resolve_cluster(kwargs, kind)
                ctx = Ctx(
                    request=_request(request),
                    user=cast(User, user),
                    args=kwargs,
                    cluster=cluster,
                    is_api=True,
                    policies=access.policies or await evaluator(user),
                    token=access.token,
                )
                await authorize(ctx, resource, handler, write=write)
                outcome = await handler(ctx)
            except Forbidden as exc:
                await _refused(user, handler, request, slug, exc, write=write)
                raise
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
    api_view.resource = resource  # type: ignore[attr-defined]
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
            slug = kwargs.get("cluster")
            try:
                if not user.is_authenticated:
                    raise Unauthenticated()
                cluster = await _resolve_cluster(kwargs, kind)
                ctx = Ctx(
                    request=_request(request),
                    user=cast(User, user),
                    args=kwargs,
                    cluster=cluster,
                    policies=await evaluator(user),
                )
                try:
                    if posting:
                        await authorize(ctx, resource, write, write=True)
                    target = await authorize(ctx, resource, read, write=False)
                except Forbidden as exc:
                    await _refused(user, write if posting else read, request, slug, exc, write=posting)
                    raise
                writes_here = _writes_here(ctx, target)
                ctx.operator = writes_here and not settings.READ_ONLY
                # "may_stop": the controls that only stop something, shown in read-only mode too.
                values: dict[str, Any] = {
                    "cluster": cluster,
                    "operator": ctx.operator,
                    "may_stop": writes_here,
                    **kwargs,
                    **fixed,
                }
                if posting:
                    assert write is not None
                    try:
                        outcome, status = await _form_outcome(write, ctx)
                    except Forbidden as exc:
                        await _refused(user, write, request, slug, exc, write=True)
                        raise
                    values.update(outcome)
                    if htmx:
                        # The form's answer alone, in place of the form's result area.
                        return await arender(request, form or template, values, status)
                result = _as_result(await read(ctx))
                values.update({"data": result.data, **result.page})
                if context is not None:
                    values.update(await context(ctx, result.data))
            except Unauthenticated:
                return redirect_to_login(request.get_full_path())
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
        page_view.resource = resource  # type: ignore[attr-defined]
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
    resource: Resource | None = None,
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
        slug = kwargs.get("cluster")
        try:
            if not user.is_authenticated:
                raise Unauthenticated()
            cluster = await _resolve_cluster(kwargs, kind)
            ctx = Ctx(
                request=_request(request),
                user=cast(User, user),
                args=kwargs,
                cluster=cluster,
                operator=True,
                policies=await evaluator(user),
            )
            try:
                await authorize(ctx, resource, handler, write=True)
                outcome = await handler(ctx)
            except Forbidden as exc:
                await _refused(user, handler, request, slug, exc, write=True)
                raise
        except Unauthenticated:
            return redirect_to_login(request.get_full_path())
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
    form_view.resource = resource  # type: ignore[attr-defined]
    return [path(route, form_view, name=name)]


def require_confirmation(ctx: Ctx, expected: str, field: str = "confirm", *, what: str = "the change") -> None:
    """Page forms carry a typed confirmation; the server checks it too (scripts use the API, which has none)."""
    if ctx.is_api:
        return
    if str(ctx.body().get(field) or "") != expected:
        raise InvalidInput(f"Type {expected} to confirm {what}.", field=field)
