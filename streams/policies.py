"""Who may do what where: policies, and the one decision every page, API call and socket asks.

A policy grants ``actions`` to the members of ``groups`` on the clusters its ``clusters``
globs match, for the resources its resource types list (``topics = ["orders-*"]``), or for
the cluster-level pages (``cluster = true``). A resource type a policy does not list is not
covered by it; ``["*"]`` covers every name. Globs (``*``, ``?``) match the whole name,
case-sensitively. A user may do what any of their policies grants (a union); nothing denies.

The two built-in roles are shorthands for policies on everything: Viewers see and read
messages, Operators may do everything (``unmask`` included); a superuser may do all.

Pure: no Django, no requests. ``console.access`` gathers a user's groups and roles and the
policies (file and admin), and asks ``Evaluator.decide``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from streams import jsontext

VIEW = "view"
MESSAGES = "messages"
PUBLISH = "publish"
RESET = "reset"
EDIT = "edit"
DELETE = "delete"
WORKERS = "workers"
UNMASK = "unmask"
ACTIONS = (VIEW, MESSAGES, PUBLISH, RESET, EDIT, DELETE, WORKERS, UNMASK)
# What a read-only token or STREAMDESK_READ_ONLY still allows.
READ_ACTIONS = frozenset({VIEW, MESSAGES, UNMASK})

TOPICS = "topics"
CONSUMER_GROUPS = "consumer_groups"
SUBJECTS = "subjects"
STREAMS = "streams"
KV_BUCKETS = "kv_buckets"
OBJECT_BUCKETS = "object_buckets"
SCHEMA_SUBJECTS = "schema_subjects"
WORKER_KIND = "workers"
CLUSTER = "cluster"
NAMED_KINDS = (TOPICS, CONSUMER_GROUPS, SUBJECTS, STREAMS, KV_BUCKETS, OBJECT_BUCKETS, SCHEMA_SUBJECTS, WORKER_KIND)
KINDS = (*NAMED_KINDS, CLUSTER)
KIND_LABELS = {
    TOPICS: "topic",
    CONSUMER_GROUPS: "consumer group",
    SUBJECTS: "subject",
    STREAMS: "stream",
    KV_BUCKETS: "KV bucket",
    OBJECT_BUCKETS: "object bucket",
    SCHEMA_SUBJECTS: "schema subject",
    WORKER_KIND: "worker",
    CLUSTER: "cluster-level pages",
}
# "buckets" names both kinds of NATS bucket at once.
ALIASES = {"buckets": (KV_BUCKETS, OBJECT_BUCKETS)}

SUPERUSER = "superuser"
OPERATORS = "operators"
VIEWERS = "viewers"
ROLES = (SUPERUSER, OPERATORS, VIEWERS)

POLICY_KEYS = frozenset({"name", "groups", "clusters", "cluster", "actions", *NAMED_KINDS, *ALIASES})
# Top-level tables of the file besides [[policy]]: masking rules are read elsewhere.
OTHER_TABLES = frozenset({"mask"})


class PolicyError(ValueError):
    """A policy that cannot be used; the message names the file, the policy and the field."""


@lru_cache(maxsize=4096)
def _glob(pattern: str) -> re.Pattern[str]:
    # "?" never stands for a NATS wildcard token, so "orders.?" does not grant the pattern "orders.*".
    parts = [".*" if c == "*" else "[^*>]" if c == "?" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.DOTALL)


def glob_match(pattern: str, name: str) -> bool:
    return _glob(pattern).fullmatch(name) is not None


def _any(patterns: Iterable[str], name: str) -> bool:
    return any(glob_match(p, name) for p in patterns)


@dataclass(frozen=True)
class Policy:
    """``resources`` maps a resource type to its globs; ``cluster`` adds the cluster-level pages."""

    groups: tuple[str, ...]
    clusters: tuple[str, ...]
    actions: frozenset[str]
    resources: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    cluster: bool = False
    name: str = ""
    source: str = ""
    role: str = ""

    def covers_cluster(self, slug: str) -> bool:
        return _any(self.clusters, slug)

    def covers(self, kind: str, name: str) -> bool:
        if kind == CLUSTER:
            return self.cluster
        return _any(self.resources.get(kind, ()), name)

    def lists(self, kind: str) -> bool:
        return self.cluster if kind == CLUSTER else bool(self.resources.get(kind))

    def label(self) -> str:
        return self.name or self.source or "policy"

    def as_api(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "role": self.role or None,
            "groups": list(self.groups),
            "clusters": list(self.clusters),
            "resources": {k: list(v) for k, v in self.resources.items()},
            "cluster": self.cluster,
            "actions": [a for a in ACTIONS if a in self.actions],
        }


def _everything(role: str, actions: Iterable[str]) -> Policy:
    return Policy(
        groups=(),
        clusters=("*",),
        actions=frozenset(actions),
        resources={kind: ("*",) for kind in NAMED_KINDS},
        cluster=True,
        name={SUPERUSER: "Superuser", OPERATORS: "Operators role", VIEWERS: "Viewers role"}[role],
        source="built-in",
        role=role,
    )


BUILT_IN = {
    SUPERUSER: _everything(SUPERUSER, ACTIONS),
    OPERATORS: _everything(OPERATORS, ACTIONS),
    VIEWERS: _everything(VIEWERS, (VIEW, MESSAGES)),
}


@dataclass(frozen=True)
class Decision:
    """The answer: ``policy`` is the one that granted it; a refusal names the ``missing_action``."""

    allowed: bool
    action: str
    cluster: str
    kind: str
    name: str
    policy: Policy | None = None

    @property
    def missing_action(self) -> str | None:
        return None if self.allowed else self.action

    def __bool__(self) -> bool:
        return self.allowed

    def refusal(self) -> str:
        if self.kind == CLUSTER:
            what = f"the cluster-level pages of cluster '{self.cluster}'"
        elif self.name:
            what = f"{KIND_LABELS.get(self.kind, self.kind)} '{self.name}' in cluster '{self.cluster}'"
        else:
            what = f"the {KIND_LABELS.get(self.kind, self.kind)}s of cluster '{self.cluster}'"
        return f"This needs the '{self.action}' action on {what}; no policy of your groups grants it."


class Evaluator:
    """One user's policies (those of their groups and roles), asked many times over one request."""

    def __init__(self, groups: Iterable[str], roles: Iterable[str] = (), policies: Iterable[Policy] = ()) -> None:
        self.groups = frozenset(groups)
        self.roles = frozenset(roles)
        mine = [BUILT_IN[r] for r in ROLES if r in self.roles]
        mine += [p for p in policies if self.groups.intersection(p.groups)]
        self.policies: tuple[Policy, ...] = tuple(mine)

    @property
    def anything(self) -> bool:
        """Whether any policy applies at all (else every page but "what can I do" is closed)."""
        return bool(self.policies)

    def decide(self, action: str, cluster: str, kind: str, name: str) -> Decision:
        for policy in self.policies:
            if action in policy.actions and policy.covers_cluster(cluster) and policy.covers(kind, name):
                return Decision(True, action, cluster, kind, name, policy)
        return Decision(False, action, cluster, kind, name)

    def may(self, action: str, cluster: str, kind: str, name: str) -> bool:
        return self.decide(action, cluster, kind, name).allowed

    def decide_some(self, action: str, cluster: str, kind: str) -> Decision:
        """May the user ``action`` some resource of ``kind`` in ``cluster`` (a listing's question)?"""
        for policy in self.policies:
            if action in policy.actions and policy.covers_cluster(cluster) and policy.lists(kind):
                return Decision(True, action, cluster, kind, "", policy)
        return Decision(False, action, cluster, kind, "")

    def sees_cluster(self, cluster: str) -> bool:
        """A cluster is listed when something in it may be viewed."""
        return any(self.decide_some(VIEW, cluster, kind).allowed for kind in KINDS)

    def for_cluster(self, cluster: str) -> list[Policy]:
        return [p for p in self.policies if p.covers_cluster(cluster)]


def decide(
    groups: Iterable[str],
    action: str,
    cluster: str,
    kind: str,
    name: str,
    *,
    roles: Iterable[str] = (),
    policies: Iterable[Policy] = (),
) -> Decision:
    """The decision for one question, from scratch (``Evaluator`` keeps the user's policies for many)."""
    return Evaluator(groups, roles, policies).decide(action, cluster, kind, name)


# -- reading policies -------------------------------------------------------------------------------


def _strings(value: Any, where: str, key: str, *, allow_empty: bool = False) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyError(f"{where}: '{key}' must be a list of strings, got {value!r}")
    found = tuple(v.strip() for v in value)
    if any(not v for v in found):
        raise PolicyError(f"{where}: '{key}' holds an empty string")
    if not found and not allow_empty:
        raise PolicyError(f"{where}: '{key}' is empty")
    return found


def from_mapping(item: Mapping[str, Any], where: str, *, source: str = "") -> Policy:
    """A policy from one ``[[policy]]`` table (or an admin row given as one); ``where`` prefixes errors."""
    unknown = sorted(set(item) - POLICY_KEYS)
    if unknown:
        known = ", ".join(sorted(POLICY_KEYS))
        raise PolicyError(f"{where}: unknown key {unknown[0]!r} (known: {known})")
    for required in ("groups", "clusters", "actions"):
        if required not in item:
            raise PolicyError(f"{where}: '{required}' is required")
    groups = _strings(item["groups"], where, "groups")
    clusters = _strings(item["clusters"], where, "clusters")
    actions = _strings(item["actions"], where, "actions")
    for action in actions:
        if action not in ACTIONS:
            raise PolicyError(f"{where}: 'actions': unknown action {action!r} (one of {', '.join(ACTIONS)})")
    resources: dict[str, tuple[str, ...]] = {}
    for key in (*NAMED_KINDS, *ALIASES):
        if key in item:
            globs = _strings(item[key], where, key)
            for kind in ALIASES.get(key, (key,)):
                resources[kind] = tuple(dict.fromkeys((*resources.get(kind, ()), *globs)))
    cluster = item.get("cluster", False)
    if not isinstance(cluster, bool):
        raise PolicyError(f"{where}: 'cluster' must be true or false, got {cluster!r}")
    if not resources and not cluster:
        raise PolicyError(
            f"{where}: the policy covers nothing: list a resource type ({', '.join(NAMED_KINDS)}) or set cluster = true"
        )
    name = item.get("name", "")
    if not isinstance(name, str):
        raise PolicyError(f"{where}: 'name' must be a string")
    return Policy(
        groups=groups,
        clusters=clusters,
        actions=frozenset(actions),
        resources=resources,
        cluster=cluster,
        name=name,
        source=source,
    )


_TOML_POLICY = re.compile(r"^\s*\[\[\s*policy\s*\]\]")


def _toml_lines(text: str) -> list[int]:
    """The line of each ``[[policy]]`` header, so that an error can point at it."""
    return [n for n, line in enumerate(text.splitlines(), start=1) if _TOML_POLICY.match(line)]


def parse(text: str, path: str, *, json: bool = False) -> list[Policy]:
    """The policies of a file's text; ``path`` names it in errors."""
    try:
        data = jsontext.loads(text) if json else tomllib.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{path} is not valid {'JSON' if json else 'TOML'}: {exc}") from None
    if not isinstance(data, dict):
        raise PolicyError(f"{path}: expected a table with a list named 'policy'")
    unknown = sorted(set(data) - {"policy"} - OTHER_TABLES)
    if unknown:
        raise PolicyError(f"{path}: unknown top-level key {unknown[0]!r} (expected 'policy')")
    items = data.get("policy", [])
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise PolicyError(f"{path}: 'policy' must be a list of tables ([[policy]])")
    lines = [] if json else _toml_lines(text)
    found = []
    for number, item in enumerate(items, start=1):
        line = f", line {lines[number - 1]}" if len(lines) >= number else ""
        where = f"{path}: policy {number}{line}"
        found.append(from_mapping(item, where, source=f"{Path(path).name}#{number}"))
    return found


def load(path: str) -> list[Policy]:
    """The policies of a TOML or JSON (by its ``.json`` suffix) file."""
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise PolicyError(f"cannot read {path}: {exc.strerror}") from None
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise PolicyError(f"{path} is not UTF-8 text") from None
    return parse(text, path, json=file.suffix.lower() == ".json")


def effective(evaluator: Evaluator, clusters: Sequence[str]) -> list[dict[str, Any]]:
    """Per cluster, the policies that apply to the user there ("what can I do here?")."""
    return [{"cluster": slug, "policies": [p.as_api() for p in evaluator.for_cluster(slug)]} for slug in clusters]
