"""The API's OpenAPI 3.1 description, generated from the handlers that serve it.

A handler declares its query parameters, body and answers as types with ``@described``;
the errors it can answer follow from what it is (every call may be refused: 401, 403; a
route with a cluster or a name may not find it: 404; input may be bad: 400 naming the
field; a cluster's broker may not answer: 503) plus the typed errors it names itself
(409, 501, 502, 504). pydantic turns the types into JSON Schema; the paths come from
the URLconf (``console.urls``), whose API views carry their route and handlers (see ``endpoint()``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from django.urls import URLPattern, URLResolver, get_resolver
from pydantic import TypeAdapter
from pydantic.json_schema import JsonSchemaValue
from typing_extensions import TypedDict

from console.web import H, Handler

REF = "#/components/schemas/{model}"
API_PREFIX = "api/v1/"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class ApiError(TypedDict):
    """Every error answer: a sentence, and the input field it is about (or null)."""

    error: str
    field: str | None


@dataclass(frozen=True)
class Description:
    query: type | None = None
    body: type | None = None
    answers: dict[int, Any] = field(default_factory=dict)
    errors: frozenset[int] = frozenset()
    summary: str = ""


def described(
    *,
    query: type | None = None,
    body: type | None = None,
    answers: dict[int, Any],
    errors: Iterable[int] = (),
    summary: str = "",
) -> Callable[[H], H]:
    """Declares a handler's query parameters and body (TypedDicts or dataclasses), its answers by
    status, and the typed errors beyond the ones every handler of its kind can answer
    (409 ``Conflict``, 504 ``NoAnswer``; 501/502 where no broker is reached)."""

    def mark(handler: H) -> H:
        handler.description = Description(query, body, dict(answers), frozenset(errors), summary)  # type: ignore[attr-defined]
        return handler

    return mark


def description_of(handler: Handler) -> Description | None:
    found = getattr(handler, "description", None)
    return found if isinstance(found, Description) else None


@dataclass(frozen=True)
class Route:
    """One ``/api/v1/`` route: its Django route text, URL name and handlers by method."""

    route: str
    name: str
    handlers: dict[str, Handler]

    @property
    def path(self) -> str:
        return "/" + CONVERTER.sub(lambda m: "{" + m.group("name") + "}", self.route)

    @property
    def parameters(self) -> list[tuple[str, str]]:
        return [(m.group("name"), m.group("conv") or "str") for m in CONVERTER.finditer(self.route)]


CONVERTER = re.compile(r"<(?:(?P<conv>[a-z]+):)?(?P<name>\w+)>")


def api_routes(patterns: Iterable[URLPattern | URLResolver] | None = None) -> Iterator[Route]:
    """Every API route ``endpoint()`` registered, in the order Django matches them."""
    if patterns is None:
        patterns = get_resolver().url_patterns
    for pattern in patterns:
        if not isinstance(pattern, URLPattern):
            continue
        handlers = getattr(pattern.callback, "api_handlers", None)
        route = getattr(pattern.callback, "api_route", None)
        if handlers is not None and route is not None and pattern.name:
            yield Route(f"{API_PREFIX}{route}", pattern.name, handlers)


# Path parameters by converter. A ``path`` value may hold "/", so a name ending in one of its
# route's fixed suffixes (/history, /download, ...) reaches that route instead.
CONVERTER_SCHEMAS: dict[str, JsonSchemaValue] = {
    "slug": {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$"},
    "int": {"type": "integer", "minimum": 0},
    "str": {"type": "string", "pattern": "^[^/]+$"},
    "path": {"type": "string", "minLength": 1},
}

STATUS_TEXT = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    400: "Bad input; `field` names the input at fault.",
    401: "Not logged in (no session, no valid bearer token).",
    403: "The role does not allow it, read-only mode, or a missing CSRF token.",
    404: "No such cluster or resource.",
    409: "Conflicts with the resource's current state.",
    501: "Not supported by this broker.",
    502: "The broker refused with an error.",
    503: "The broker (or the database) did not answer.",
    504: "The responders did not answer in time.",
}


def _is_write(method: str, handler: Handler) -> bool:
    return method != "GET" and not getattr(handler, "reads", False)


def error_statuses(route: Route, method: str, handler: Handler, description: Description) -> set[int]:
    statuses = {401, 403} | set(description.errors)
    names = [name for name, _ in route.parameters]
    if names:
        statuses.add(404)
    if description.query is not None or description.body is not None or names:
        statuses.add(400)
    if "cluster" in names:
        # Any call that reaches a broker may meet its failures (see the brokers' ``translate``).
        statuses |= {501, 502, 503}
    return statuses


def _components(types: Iterable[Any]) -> tuple[dict[Any, JsonSchemaValue], dict[str, JsonSchemaValue]]:
    """JSON Schema of each type (by reference where it has a name) and the named definitions."""
    unique = list(dict.fromkeys(types))
    inputs: list[tuple[Any, Literal["validation", "serialization"], TypeAdapter[Any]]] = [
        (t, "serialization", TypeAdapter(t)) for t in unique
    ]
    schemas, defs = TypeAdapter.json_schemas(inputs, ref_template=REF)
    return {key: value for (key, _mode), value in schemas.items()}, defs.get("$defs", {})


def _query_parameters(schema: JsonSchemaValue, defs: dict[str, JsonSchemaValue]) -> list[JsonSchemaValue]:
    if "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[1]]
    required = set(schema.get("required", ()))
    params = []
    for name, prop in schema.get("properties", {}).items():
        prop = {k: v for k, v in prop.items() if k != "title"}
        description = prop.pop("description", None)
        param: JsonSchemaValue = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if description:
            param["description"] = description
        params.append(param)
    return params


def _doc(handler: Handler) -> str:
    return " ".join((handler.__doc__ or "").split())


def generate(routes: Iterable[Route] | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every described handler."""
    routes = list(api_routes() if routes is None else routes)
    described_ops = [
        (route, method, handler, desc)
        for route in routes
        for method, handler in route.handlers.items()
        if (desc := description_of(handler)) is not None
    ]
    types: list[Any] = [ApiError]
    for _r, _m, _h, desc in described_ops:
        types += [t for t in (desc.query, desc.body) if t is not None]
        types += [t for t in desc.answers.values() if t is not None]
    schemas, defs = _components(types)
    error_ref = schemas[ApiError]

    paths: dict[str, dict[str, Any]] = {}
    for route, method, handler, desc in described_ops:
        parameters = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": dict(CONVERTER_SCHEMAS.get(conv, {"type": "string"})),
            }
            for name, conv in route.parameters
        ]
        if desc.query is not None:
            parameters += _query_parameters(schemas[desc.query], defs)
        responses: dict[str, Any] = {}
        for status, answer in sorted(desc.answers.items()):
            response: dict[str, Any] = {"description": STATUS_TEXT.get(status, "OK")}
            if answer is not None:
                response["content"] = {"application/json": {"schema": schemas[answer]}}
            responses[str(status)] = response
        for status in sorted(error_statuses(route, method, handler, desc)):
            responses[str(status)] = {
                "description": STATUS_TEXT[status],
                "content": {"application/json": {"schema": error_ref}},
            }
        operation: dict[str, Any] = {
            "operationId": f"{route.name}-{method.lower()}",
            "summary": desc.summary or _doc(handler).split(". ")[0][:120] or route.name,
            "tags": [route.name.removeprefix("api-").split("-")[0]],
            "parameters": parameters,
            "responses": responses,
        }
        if doc := _doc(handler):
            operation["description"] = doc
        if desc.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": schemas[desc.body]}},
            }
        if _is_write(method, handler):
            operation["x-streamdesk-write"] = True
        paths.setdefault(route.path, {})[method.lower()] = operation

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Streamdesk API",
            "version": "1",
            "description": "Every page's JSON twin. Log in with a session (and send X-CSRFToken on writes) "
            "or send `Authorization: Bearer <token>`.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": defs,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "sessionid"},
            },
        },
        "security": [{"bearer": []}, {"session": []}],
    }


def undescribed(routes: Iterable[Route] | None = None) -> list[tuple[str, str]]:
    """(URL name, method) of every API handler without a description."""
    routes = api_routes() if routes is None else routes
    return [(r.name, m) for r in routes for m, h in r.handlers.items() if description_of(h) is None]
