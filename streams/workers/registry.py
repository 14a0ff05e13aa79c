"""The handlers managed consumers can run: registered with ``@handler``, found like Celery finds tasks.

A handler is a plain callable (sync or ``async def``) taking one ``Message``. Every installed
app's ``handlers`` module is imported (``streams/handlers.py`` holds the built-ins), and so are
the modules named by ``STREAMDESK_HANDLER_MODULES``. A module that fails to import is not
fatal: its error is kept and shown, and consumers naming its handlers fail visibly.

    from streams.workers.registry import handler

    @handler("shout", description="Logs the value in capitals.", config_schema={"type": "object"})
    def shout(message):
        print(message.text.upper())
"""

from __future__ import annotations

import importlib
import inspect
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from streams.errors import InvalidInput

logger = logging.getLogger("streams.workers")

HandlerFunc = Callable[[Any], Any]
DEFAULT_SCHEMA: dict[str, Any] = {"type": "object"}


class DeadLetter(Exception):
    """Raised by a handler: send this message to the dead-letter destination now, without retries.

    The poison-pill guard: a message that can never succeed should not be retried.
    """


class HandlerProblem(Exception):
    """A handler that cannot run: unknown, failed to import, or given a config its schema refuses."""


@dataclass(frozen=True)
class HandlerSpec:
    name: str
    func: HandlerFunc
    description: str
    config_schema: dict[str, Any]
    is_async: bool
    module: str

    def as_api(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "config_schema": self.config_schema}


@dataclass
class _Registry:
    handlers: dict[str, HandlerSpec] = field(default_factory=dict)
    import_errors: dict[str, str] = field(default_factory=dict)
    discovered: bool = False
    lock: threading.RLock = field(default_factory=threading.RLock)


_registry = _Registry()


def handler(
    name: str, *, description: str = "", config_schema: Mapping[str, Any] | None = None
) -> Callable[[HandlerFunc], HandlerFunc]:
    """Register ``func`` as the handler ``name``; its config is checked against ``config_schema``."""
    if not name or len(name) > 100:
        raise ValueError("a handler name has 1 to 100 characters")
    schema = dict(config_schema) if config_schema is not None else dict(DEFAULT_SCHEMA)
    check_schema(schema, name)

    def register(func: HandlerFunc) -> HandlerFunc:
        spec = HandlerSpec(
            name=name,
            func=func,
            description=description or (inspect.getdoc(func) or "").split("\n\n")[0],
            config_schema=schema,
            is_async=inspect.iscoroutinefunction(func),
            module=getattr(func, "__module__", ""),
        )
        with _registry.lock:
            existing = _registry.handlers.get(name)
            if existing is not None and (existing.module, existing.func.__qualname__) != (
                spec.module,
                func.__qualname__,
            ):
                raise ValueError(f"handler {name!r} is registered twice ({existing.module} and {spec.module})")
            _registry.handlers[name] = spec
        return func

    return register


def check_schema(schema: Mapping[str, Any], name: str) -> None:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise ValueError(f"handler {name!r}: its config_schema is not a valid JSON Schema: {exc.message}") from None


def discover(*, again: bool = False) -> None:
    """Import every installed app's ``handlers`` module and the extra modules named in settings."""
    with _registry.lock:
        if _registry.discovered and not again:
            return
        _registry.discovered = True
        from django.apps import apps

        extra = list(settings.HANDLER_MODULES)
        modules = [f"{config.name}.handlers" for config in apps.get_app_configs()] + extra
        for module in modules:
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as exc:
                # An app without a handlers module is the usual case; a missing import *inside*
                # one, or a module named in settings that is not there, is not.
                if module in extra or exc.name != module:
                    _registry.import_errors[module] = f"{exc.__class__.__name__}: {exc}"
            except Exception as exc:
                logger.exception("handlers module %s failed to import", module)
                _registry.import_errors[module] = f"{exc.__class__.__name__}: {exc}"


def all_handlers() -> list[HandlerSpec]:
    discover()
    return sorted(_registry.handlers.values(), key=lambda s: s.name)


def import_errors() -> dict[str, str]:
    discover()
    return dict(_registry.import_errors)


def get(name: str) -> HandlerSpec:
    """The handler ``name``; HandlerProblem saying why when there is none."""
    discover()
    spec = _registry.handlers.get(name)
    if spec is not None:
        return spec
    broken = "; ".join(f"{module}: {error}" for module, error in _registry.import_errors.items())
    hint = f" (a handlers module failed to import: {broken})" if broken else ""
    raise HandlerProblem(f"No handler named {name!r}{hint}.")


def config_problem(spec: HandlerSpec, config: Any) -> str | None:
    """Why ``config`` does not fit the handler's schema (the first problem, with its place), or None."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(spec.config_schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), list(map(str, e.path))))
    if not errors:
        return None
    first = errors[0]
    where = "/".join(str(p) for p in first.absolute_path)
    return f"{'at ' + where + ': ' if where else ''}{first.message}"


def validated(name: str, config: Any, field: str = "config") -> HandlerSpec:
    """The handler, once ``config`` fits its schema; InvalidInput naming the field otherwise."""
    try:
        spec = get(name)
    except HandlerProblem as exc:
        raise InvalidInput(str(exc), field="handler") from None
    problem = config_problem(spec, config)
    if problem:
        raise InvalidInput(f"The config does not fit handler {name}'s schema: {problem}.", field=field)
    return spec


def reset_for_tests() -> None:
    with _registry.lock:
        _registry.discovered = False
        _registry.import_errors.clear()
