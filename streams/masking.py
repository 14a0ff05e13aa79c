"""Masking rules and how they rewrite a payload for someone who may not see it whole.

Rules come from ``STREAMDESK_MASKING`` (a TOML or JSON file, or the policies file), as
``[[mask]]`` tables: ``clusters`` (globs over the cluster slug, default all), the resources
covered (``topics``, ``subjects``, ``streams``, ``kv_buckets``: globs over the whole name; a
type a rule does not list is not covered by it), ``fields`` (``$.card.number`` paths, or a
bare name matching that key at any depth), ``pattern`` (a regular expression) and
``replace`` (default ``***``). A rule with fields and a pattern replaces the pattern's
matches inside those fields only; fields alone replace the whole value; a pattern alone
runs over the whole text (every string of a JSON document).

What a masked payload looks like: its bytes are gone (no base64, no hex), its text is
rebuilt from the masked data (JSON where it was JSON or schema-decoded), and it says it is
masked. A payload that is not text (and not decoded by a schema) is redacted whole, and so
is JSON that cannot be read whole (cut at the display limit, or nested too deep) when a
rule names fields in it: a field that cannot be found cannot be known to be absent.

Patterns are compiled once, at start-up, and refused when they could make masking slow on
hostile data: Python's ``re`` has no timeout (and the ``regex`` package, which has one, is not a
dependency), so unbounded repeats (``+``, ``*``, ``{n,}``: even ``[\\w.]+@`` reads each start of a
long value to its end, minutes on a 64 KB value), repeats of more than ``MAX_REPEAT``, nested
quantifiers (``(a{1,9}){1,9}``), quantified alternations (``(ab|a){0,9}``), backreferences and two
long variable repeats that can match the same characters with nothing required between them
are start-up errors. Bounded patterns (``\\d{4}[ -]?\\d{4}``, ``[\\w.+-]{1,64}@[\\w-]{1,63}\\.\\w{2,63}``)
pass, and take tens of milliseconds at most on a hostile 64 KB value.

Pure: no Django here but ``active()``, which reads the rules the settings loaded. Whether a
user may see through the rules is not decided here: ``console.access.may_unmask`` answers that.
"""

from __future__ import annotations

import json
import re
import re._constants as sre_c  # the stdlib's own regex parser: how a pattern is checked before use
import re._parser as sre_p
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from dataclasses import replace as dc_replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, TypeVar

from streams.payloads import Payload

M = TypeVar("M")

RESOURCE_TYPES = ("topics", "subjects", "streams", "kv_buckets")
RULE_KEYS = {"clusters", "fields", "pattern", "replace", *RESOURCE_TYPES}
DEFAULT_REPLACE = "***"
MAX_PATTERN_LENGTH = 1000
# The most a repeat in a pattern may match: the work per value grows with it (and with the value's length).
MAX_REPEAT = 128
MAX_REPLACE_LENGTH = 256
MAX_RULES = 1000
_CACHE_SIZE = 4096


class MaskingError(ValueError):
    """The rules file is wrong; the message names the rule and the field."""


class _Unreadable(Exception):
    """A JSON tree too deep to walk: masked whole instead."""


# ---- field paths ----------------------------------------------------------------------------

WILD = object()
_STEP = re.compile(r"""\.(?P<name>[^.\[\]]+)|\[(?P<index>-?\d+|\*)\]|\[(?P<quote>['"])(?P<quoted>.*?)(?P=quote)\]""")


@dataclass(frozen=True)
class FieldPath:
    """``$.a.b[0]['c.d'][*]`` as steps (key, index or WILD); a bare name has ``name`` instead."""

    text: str
    steps: tuple[Any, ...] = ()
    name: str | None = None


def parse_field(text: str) -> FieldPath:
    if not isinstance(text, str) or not text.strip():
        raise MaskingError("a field must be a non-empty string")
    if not text.startswith("$"):
        if any(c in text for c in ".[]"):
            raise MaskingError(f"{text!r}: a path starts with $ (as in $.card.number); a bare name has no dots")
        return FieldPath(text=text, name=text)
    steps: list[Any] = []
    pos = 1
    while pos < len(text):
        found = _STEP.match(text, pos)
        if found is None:
            raise MaskingError(
                f"{text!r}: cannot read the path at {text[pos:]!r} (use $.a.b, $.a[0], $.a[*], $['a.b'])"
            )
        if found["name"] is not None:
            steps.append(WILD if found["name"] == "*" else found["name"])
        elif found["index"] is not None:
            steps.append(WILD if found["index"] == "*" else int(found["index"]))
        else:
            steps.append(found["quoted"])
        pos = found.end()
    if not steps:
        raise MaskingError(f"{text!r}: the path names no field ($ alone would be the whole payload)")
    return FieldPath(text=text, steps=tuple(steps))


# ---- patterns: compiled once, refused when they can backtrack without bound ------------------

_REPEATS = {sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, sre_c.POSSESSIVE_REPEAT}
_SAMPLE = [chr(c) for c in range(128)] + ["é", "\u00a0", "\u0663", "中", "\u2028", "\U0001f600"]
_CATEGORY_RE = {
    sre_c.CATEGORY_DIGIT: re.compile(r"\d"),
    sre_c.CATEGORY_NOT_DIGIT: re.compile(r"\D"),
    sre_c.CATEGORY_SPACE: re.compile(r"\s"),
    sre_c.CATEGORY_NOT_SPACE: re.compile(r"\S"),
    sre_c.CATEGORY_WORD: re.compile(r"\w"),
    sre_c.CATEGORY_NOT_WORD: re.compile(r"\W"),
}


def _chars(body: Any) -> set[str] | None:
    """The sample characters a repeat's body can start with; None: any (not worked out)."""
    items = list(body)
    if len(items) != 1:
        return None
    op, arg = items[0]
    if op is sre_c.LITERAL:
        return {chr(arg)}
    if op is sre_c.NOT_LITERAL:
        return {c for c in _SAMPLE if c != chr(arg)}
    if op is sre_c.ANY:
        return set(_SAMPLE)
    if op is sre_c.IN:
        negate = False
        found: set[str] = set()
        for sub_op, sub_arg in arg:
            if sub_op is sre_c.NEGATE:
                negate = True
            elif sub_op is sre_c.LITERAL:
                found.add(chr(sub_arg))
            elif sub_op is sre_c.RANGE:
                found.update(c for c in _SAMPLE if sub_arg[0] <= ord(c) <= sub_arg[1])
            elif sub_op is sre_c.CATEGORY and sub_arg in _CATEGORY_RE:
                found.update(c for c in _SAMPLE if _CATEGORY_RE[sub_arg].match(c))
            else:
                return None
        return {c for c in _SAMPLE if c not in found} if negate else found
    return None


def _has_repeat_or_branch(items: Iterable[Any]) -> bool:
    for op, arg in items:
        if op in _REPEATS and arg[1] > 1:
            return True
        if op is sre_c.BRANCH:
            return True
        for sub in _children(op, arg):
            if _has_repeat_or_branch(sub):
                return True
    return False


def _children(op: Any, arg: Any) -> list[Any]:
    if op in _REPEATS:
        return [arg[2]]
    if op is sre_c.SUBPATTERN:
        return [arg[3]]
    if op is sre_c.BRANCH:
        return list(arg[1])
    if op in (sre_c.ASSERT, sre_c.ASSERT_NOT):
        return [arg[1]]
    if op is sre_c.ATOMIC_GROUP:
        return [arg]
    return []


_ADJACENT = (
    "two repeats of varying length that can match the same characters follow each other with nothing "
    "required between them (such as \\d{1,64}\\d{0,64} or .{0,99}.{0,99}); join them into one"
)
# A variable repeat spanning more than this many lengths counts for the check above.
_ADJACENT_SPAN = 16


class _Sequence:
    """Walks one sequence of a pattern. ``pending``: whether long variable repeats were seen since the
    last required element; ``chars``: the characters they can match (None: any, not worked out)."""

    def __init__(self) -> None:
        self.pending = False
        self.chars: set[str] | None = set()

    def walk(self, items: Any) -> None:
        for op, arg in items:
            if op in (sre_c.GROUPREF, sre_c.GROUPREF_EXISTS):
                raise MaskingError("backreferences are not allowed in a masking pattern")
            if op is sre_c.SUBPATTERN:
                self.walk(arg[3])  # a group is its contents, in line: (\d{1,64})\s?(\d{1,64}) as one sequence
                continue
            if op in _REPEATS:
                self._repeat(*arg)
                continue
            if op is not sre_c.AT:
                self.pending = False
            for sub in _children(op, arg):
                _Sequence().walk(sub)

    def _repeat(self, low: int, high: int, body: Any) -> None:
        if high == sre_c.MAXREPEAT:
            raise MaskingError(
                "unbounded repeats (+, *, {n,}) are not allowed: each start in a long value would read to its "
                f"end, which takes minutes on a hostile 64 KB value; bound them, as in {{1,64}} (at most "
                f"{MAX_REPEAT})"
            )
        if high > MAX_REPEAT:
            raise MaskingError(f"a repeat may match at most {MAX_REPEAT} times ({{{low},{high}}} asks for more)")
        if high > 1 and _has_repeat_or_branch(body):
            raise MaskingError(
                "nested quantifiers or a quantified alternation (such as (a{1,9}){1,9} or (ab|a){0,9}) can take "
                "exponential time on hostile data; write the pattern without them"
            )
        _Sequence().walk(body)
        if high - low <= _ADJACENT_SPAN:
            if low > 0:
                self.pending = False
            return
        mine = _chars(body)
        if self.pending and (self.chars is None or mine is None or self.chars & mine):
            raise MaskingError(_ADJACENT)
        if low > 0 or not self.pending:
            # Required: what came before is no longer next to what follows.
            self.chars = mine
        else:
            self.chars = None if mine is None or self.chars is None else self.chars | mine
        self.pending = True


def _check_tree(items: Any) -> None:
    _Sequence().walk(items)


def compile_pattern(text: str) -> re.Pattern[str]:
    if not isinstance(text, str) or not text:
        raise MaskingError("pattern must be a non-empty string (or left out)")
    if len(text) > MAX_PATTERN_LENGTH:
        raise MaskingError(f"pattern is longer than {MAX_PATTERN_LENGTH} characters")
    try:
        compiled = re.compile(text)
        tree = sre_p.parse(text)
    except (re.error, RecursionError, OverflowError) as exc:
        raise MaskingError(f"pattern {text!r} is not a valid regular expression: {exc}") from None
    try:
        _check_tree(tree)
    except MaskingError as exc:
        raise MaskingError(f"pattern {text!r}: {exc}") from None
    return compiled


# ---- rules ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    number: int
    clusters: tuple[str, ...]
    resources: Mapping[str, tuple[str, ...]]
    fields: tuple[FieldPath, ...]
    pattern: re.Pattern[str] | None
    replace: str
    # The rule as written: a search carries the rules that covered it to its Celery worker.
    spec: Mapping[str, Any] = field(compare=False, hash=False, default_factory=dict)

    def covers(self, cluster: str, kind: str, name: str) -> bool:
        globs = self.resources.get(kind)
        if not globs or not any(fnmatchcase(cluster, c) for c in self.clusters):
            return False
        return any(fnmatchcase(name, g) for g in globs)

    @property
    def names(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields if f.name is not None)


def _globs(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise MaskingError(f'{where} must be a list of name patterns (globs), such as ["orders-*"]')
    return tuple(value)


def parse_rule(spec: Any, number: int) -> Rule:
    where = f"mask rule {number}"
    if not isinstance(spec, dict):
        raise MaskingError(f"{where} must be a table (an object)")
    unknown = sorted(set(spec) - RULE_KEYS)
    if unknown:
        raise MaskingError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(RULE_KEYS))})")
    clusters = _globs(spec["clusters"], f"{where}: clusters") if "clusters" in spec else ("*",)
    resources = {kind: _globs(spec[kind], f"{where}: {kind}") for kind in RESOURCE_TYPES if kind in spec}
    if not resources:
        raise MaskingError(f"{where} covers nothing: give topics, subjects, streams or kv_buckets")
    raw_fields = spec.get("fields") or []
    if isinstance(raw_fields, str):
        raw_fields = [raw_fields]
    if not isinstance(raw_fields, list):
        raise MaskingError(f'{where}: fields must be a list such as ["$.card.number", "email"]')
    fields = []
    for i, text in enumerate(raw_fields):
        try:
            fields.append(parse_field(text))
        except MaskingError as exc:
            raise MaskingError(f"{where}: fields[{i}]: {exc}") from None
    pattern_text = spec.get("pattern")
    try:
        pattern = compile_pattern(pattern_text) if pattern_text is not None else None
    except MaskingError as exc:
        raise MaskingError(f"{where}: {exc}") from None
    if not fields and pattern is None:
        raise MaskingError(f"{where} masks nothing: give fields, a pattern, or both")
    replace = spec.get("replace", DEFAULT_REPLACE)
    if not isinstance(replace, str) or len(replace) > MAX_REPLACE_LENGTH:
        raise MaskingError(f"{where}: replace must be a string of at most {MAX_REPLACE_LENGTH} characters")
    if pattern is not None:
        try:
            # A replacement's group references must exist: found out now, not on the first match.
            sre_p.parse_template(replace, pattern)
        except (re.error, IndexError, TypeError) as exc:
            raise MaskingError(f"{where}: replace {replace!r} does not fit the pattern: {exc}") from None
    return Rule(number, clusters, resources, tuple(fields), pattern, replace, spec=dict(spec))


class Rules:
    """Every rule, and which of them cover a resource (worked out once per resource)."""

    def __init__(self, rules: Sequence[Rule] = ()) -> None:
        self.rules = tuple(rules)
        self._covering: dict[tuple[Any, ...], tuple[Rule, ...]] = {}

    def __bool__(self) -> bool:
        return bool(self.rules)

    def covering(self, cluster: str, *resources: tuple[str, str]) -> tuple[Rule, ...]:
        """The rules covering any of ``resources`` (``(kind, name)``, kind one of RESOURCE_TYPES) of ``cluster``."""
        if not self.rules:
            return ()
        key = (cluster, *resources)
        hit = self._covering.get(key)
        if hit is None:
            hit = tuple(r for r in self.rules if any(r.covers(cluster, kind, name) for kind, name in resources))
            if len(self._covering) >= _CACHE_SIZE:
                self._covering.clear()
            self._covering[key] = hit
        return hit


EMPTY = Rules()


def parse(document: Any, source: str = "the masking rules") -> Rules:
    if not isinstance(document, dict):
        raise MaskingError(f"{source}: expected a table with [[mask]] entries")
    entries = document.get("mask", [])
    if not isinstance(entries, list):
        raise MaskingError(f"{source}: mask must be a list of tables ([[mask]])")
    if len(entries) > MAX_RULES:
        raise MaskingError(f"{source}: more than {MAX_RULES} mask rules")
    try:
        return Rules([parse_rule(spec, i + 1) for i, spec in enumerate(entries)])
    except MaskingError as exc:
        raise MaskingError(f"{source}: {exc}") from None


def from_specs(specs: Iterable[Mapping[str, Any]]) -> tuple[Rule, ...]:
    """Rules written out by ``Rule.spec`` (as a search keeps them), compiled again."""
    return tuple(parse_rule(dict(spec), i + 1) for i, spec in enumerate(specs))


def load(path: str) -> Rules:
    """A rules file: JSON when it ends in .json, else TOML (JSON tried first for other names)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise MaskingError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise MaskingError(f"{path} is not UTF-8 text") from None
    document: Any
    if path.endswith(".json"):
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise MaskingError(f"{path} is not valid JSON: {exc}") from None
    else:
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            if path.endswith(".toml"):
                raise MaskingError(f"{path} is not valid TOML: {exc}") from None
            try:
                document = json.loads(text)
            except ValueError:
                raise MaskingError(f"{path} is neither TOML ({exc}) nor JSON") from None
    return parse(document, path)


def active() -> Rules:
    """The rules the settings loaded at start-up (none when ``STREAMDESK_MASKING`` is unset)."""
    from django.conf import settings

    rules = getattr(settings, "MASKING", None)
    return rules if isinstance(rules, Rules) else EMPTY


# ---- JSON trees ---------------------------------------------------------------------------------


def _pattern_tree(node: Any, pattern: re.Pattern[str], replace: str) -> tuple[Any, bool]:
    """Every string (and number, as written) in ``node`` with the pattern's matches replaced; keys too."""
    kind = type(node)
    if kind is str:
        out = pattern.sub(replace, node)
        return out, out != node
    if kind is int or kind is float:
        # As JSON writes it (repr: 1e+100, 0.1), without the encoder's cost per number.
        text = repr(node)
        out = pattern.sub(replace, text)
        return (out, True) if out != text else (node, False)
    if kind is dict:
        changed = False
        result: dict[str, Any] = {}
        for key, value in node.items():
            new_key, key_changed = _pattern_tree(key, pattern, replace) if type(key) is str else (key, False)
            new_value, value_changed = _pattern_tree(value, pattern, replace)
            changed = changed or key_changed or value_changed
            result[new_key] = new_value
        return (result, True) if changed else (node, False)
    if kind is list:
        items = [_pattern_tree(v, pattern, replace) for v in node]
        if any(c for _, c in items):
            return [v for v, _ in items], True
        return node, False
    return node, False


def _replace_value(value: Any, rule: Rule) -> tuple[Any, bool]:
    if rule.pattern is None:
        return rule.replace, True
    return _pattern_tree(value, rule.pattern, rule.replace)


def _by_path(node: Any, steps: tuple[Any, ...], rule: Rule) -> tuple[Any, bool]:
    if not steps:
        return _replace_value(node, rule)
    step, rest = steps[0], steps[1:]
    if type(node) is dict:
        keys = list(node) if step is WILD else [step] if type(step) is str and step in node else []
        out: dict[str, Any] | None = None
        for key in keys:
            new, changed = _by_path(node[key], rest, rule)
            if changed:
                out = out if out is not None else dict(node)
                out[key] = new
        return (out, True) if out is not None else (node, False)
    if type(node) is list:
        if step is WILD:
            indexes: Iterable[int] = range(len(node))
        elif type(step) is int and -len(node) <= step < len(node):
            indexes = [step]
        else:
            indexes = []
        items: list[Any] | None = None
        for i in indexes:
            new, changed = _by_path(node[i], rest, rule)
            if changed:
                items = items if items is not None else list(node)
                items[i] = new
        return (items, True) if items is not None else (node, False)
    return node, False


def _by_name(node: Any, names: frozenset[str], rule: Rule) -> tuple[Any, bool]:
    if type(node) is dict:
        out: dict[str, Any] | None = None
        for key, value in node.items():
            new, changed = _replace_value(value, rule) if key in names else _by_name(value, names, rule)
            if changed:
                out = out if out is not None else dict(node)
                out[key] = new
        return (out, True) if out is not None else (node, False)
    if type(node) is list:
        items: list[Any] | None = None
        for i, value in enumerate(node):
            new, changed = _by_name(value, names, rule)
            if changed:
                items = items if items is not None else list(node)
                items[i] = new
        return (items, True) if items is not None else (node, False)
    return node, False


def mask_tree(data: Any, rules: Sequence[Rule]) -> tuple[Any, bool]:
    """``data`` (a JSON value) with the rules applied, and whether anything changed; never mutates ``data``."""
    changed = False
    try:
        for rule in rules:
            if not rule.fields:
                assert rule.pattern is not None
                data, hit = _pattern_tree(data, rule.pattern, rule.replace)
                changed = changed or hit
                continue
            names = rule.names
            if names:
                data, hit = _by_name(data, names, rule)
                changed = changed or hit
            for path in rule.fields:
                if path.name is None:
                    data, hit = _by_path(data, path.steps, rule)
                    changed = changed or hit
    except RecursionError:
        raise _Unreadable() from None
    return data, changed


# ---- payloads ----------------------------------------------------------------------------------


def _dumps(data: Any) -> str:
    # The separators of json.dumps' default: the search's text filter reads decoded data the same way.
    return json.dumps(data, ensure_ascii=False)


def _masked(payload: Payload, text: str, decoding: Any) -> Payload:
    return Payload(
        raw=text.encode("utf-8", "replace"),
        size=payload.size,
        truncated=payload.truncated,
        decoding=decoding,
        masked=True,
    )


def _redacted(payload: Payload, rules: Sequence[Rule]) -> Payload:
    decoding = payload.decoding
    if decoding is not None and decoding.decoded is not None:
        decoding = dc_replace(decoding, decoded=None)
    return _masked(payload, rules[0].replace, decoding)


def _looks_like_json(text: str) -> bool:
    return text.lstrip()[:1] in ("{", "[")


def mask_payload(payload: Payload, rules: Sequence[Rule]) -> Payload:
    """``payload`` as someone without unmask sees it under ``rules`` (the same object when nothing applies)."""
    if not rules or payload.raw is None or payload.masked:
        return payload
    decoding = payload.decoding
    decoded = decoding.decoded if decoding is not None else None
    try:
        if decoded is not None:
            assert decoding is not None
            data, changed = mask_tree(decoded.data, rules)
            if not changed:
                return payload
            return _masked(payload, _dumps(data), dc_replace(decoding, decoded=dc_replace(decoded, data=data)))
        if decoding is not None and decoding.error and any(rule.fields for rule in rules):
            # A schema should have read it and did not (the registry away, a poison payload): its
            # fields are in bytes no path can reach.
            return _redacted(payload, rules)
        text = payload.text
        if text is None:
            return _redacted(payload, rules)
        if _looks_like_json(text):
            tree: Any = None
            readable = False
            if not payload.truncated:
                try:
                    tree = json.loads(text)
                    readable = True
                except (ValueError, RecursionError):
                    readable = False
            if readable:
                data, changed = mask_tree(tree, rules)
                return _masked(payload, _dumps(data), decoding) if changed else payload
            if any(rule.fields for rule in rules):
                return _redacted(payload, rules)
        out = text
        for rule in rules:
            if rule.pattern is not None and not rule.fields:
                out = rule.pattern.sub(rule.replace, out)
        return _masked(payload, out, decoding) if out != text else payload
    except _Unreadable:
        return _redacted(payload, rules)


def mask_header(name: str, payload: Payload, rules: Sequence[Rule]) -> Payload:
    """A header value: a bare field name equal to the header's (in any case) masks it whole."""
    if not rules or payload.raw is None:
        return payload
    lowered = name.lower()
    for rule in rules:
        if any(n.lower() == lowered for n in rule.names):
            return _masked(payload, rule.replace, payload.decoding)
    return mask_payload(payload, rules)


def mask_headers(pairs: Iterable[tuple[str, Payload]], rules: Sequence[Rule]) -> list[tuple[str, Payload]]:
    return [(name, mask_header(name, value, rules)) for name, value in pairs]


def seen_bytes(payload: Payload, raw: bytes | None) -> bytes | None:
    """What a filter searches in: the masked text where masking changed the payload, else ``raw``."""
    return payload.raw if payload.masked else raw


def mask_message(message: M, rules: Sequence[Rule]) -> M:
    """A message dataclass (``key``, ``value``, ``headers`` of Payloads, as the brokers' types have) masked."""
    if not rules:
        return message
    changes: dict[str, Any] = {}
    for name in ("key", "value"):
        payload = getattr(message, name, None)
        if isinstance(payload, Payload):
            changes[name] = mask_payload(payload, rules)
    headers = getattr(message, "headers", None)
    if headers:
        changes["headers"] = type(headers)(mask_headers(headers, rules))
    return dc_replace(message, **changes)  # type: ignore[type-var]


# ---- one read's masking ----------------------------------------------------------------------------

UNMASKED_READ = "data.unmasked_read"


@dataclass
class Mask:
    """How one read (a page, an export, a search) masks: the rules, and whether its user may see
    through them. ``covered`` tells afterwards whether any rule covered what was read, so that an
    unmasked read of covered data is audited once."""

    rules: Rules
    cluster: str
    unmask: bool
    covered: bool = False

    def covering(self, *resources: tuple[str, str]) -> tuple[Rule, ...]:
        """The rules to apply to a message of ``resources``: none when the user may unmask."""
        found = self.rules.covering(self.cluster, *resources)
        if found:
            self.covered = True
        return () if self.unmask else found

    def message(self, message: M, *resources: tuple[str, str]) -> M:
        return mask_message(message, self.covering(*resources))

    def payload(self, payload: Payload, *resources: tuple[str, str]) -> Payload:
        return mask_payload(payload, self.covering(*resources))

    @property
    def audited(self) -> bool:
        """Whether this read is one the audit trail records: unmasked, of data a rule covers."""
        return self.unmask and self.covered
