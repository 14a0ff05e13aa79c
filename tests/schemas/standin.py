"""A stand-in Schema Registry on a real socket, following Confluent's documented REST API.

Content type ``application/vnd.schemaregistry.v1+json``; errors carry ``error_code``:
40401 subject not found, 40402 version not found, 40403 schema not found, 40404/40405 soft and
hard delete out of order, 40408 no subject-level config, 409 incompatible, 42201 invalid schema
(a reference to a version it does not hold included), 42203 invalid compatibility level. Schemas carry
their ``references`` (name, subject, version) as registered, in ``/schemas/ids/{id}``, a subject's
versions and lookups, and ``/subjects/{s}/versions/{v}/referencedby`` lists the ids that use a version.
Enough of the API for the serializers, the deserializers and the console.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
LEVELS = ("BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE", "NONE")


@dataclass
class State:
    schemas: dict[int, dict[str, Any]] = field(default_factory=dict)  # id -> {"schema", "schemaType", "references"}
    subjects: dict[str, list[int]] = field(default_factory=dict)  # subject -> ids by version (1-based)
    requests: list[str] = field(default_factory=list)
    down: bool = False
    compatibility: str = "BACKWARD"
    configs: dict[str, str] = field(default_factory=dict)  # subject -> its own compatibility level
    deleted: set[str] = field(default_factory=set)  # soft-deleted subjects
    # "GET /schemas/ids/1" -> a body answered with 200 instead: a registry answering the wrong shape.
    answers: dict[str, Any] = field(default_factory=dict)

    def incompatible(self, subject: str, body: dict[str, Any]) -> list[str]:
        """Backward compatibility of Avro records, the common case: a field the reader adds needs a default."""
        ids = self.subjects.get(subject) or []
        level = self.configs.get(subject, self.compatibility)
        if not ids or level == "NONE" or body.get("schemaType", "AVRO") != "AVRO":
            return []
        try:
            new, old = json.loads(body["schema"]), json.loads(self.schemas[ids[-1]]["schema"])
        except ValueError:
            return []
        if not (isinstance(new, dict) and isinstance(old, dict)):
            return []
        had = {f["name"] for f in old.get("fields", [])}
        return [
            f"{{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field '{f['name']}' at path "
            f"'/fields/{i}' in the new schema has no default value and is missing in the old schema'}}"
            for i, f in enumerate(new.get("fields", []))
            if f["name"] not in had and "default" not in f
        ]

    @staticmethod
    def same(stored: dict[str, Any], body: dict[str, Any]) -> bool:
        """One schema is its text, its type and its references: the same text naming other versions is another."""
        return (
            stored["schema"] == body.get("schema")
            and stored["schemaType"] == body.get("schemaType", "AVRO")
            and (stored["references"] or []) == (body.get("references") or [])
        )

    def version_id(self, subject: str, version: int) -> int | None:
        ids = self.subjects.get(subject) or []
        return ids[version - 1] if isinstance(version, int) and 1 <= version <= len(ids) else None

    def register(self, subject: str, body: dict[str, Any]) -> tuple[int, int]:
        kind = body.get("schemaType", "AVRO")
        text = body["schema"]
        if kind in ("AVRO", "JSON"):
            try:
                json.loads(text)
            except ValueError:
                raise ValueError("42201") from None
        refs = body.get("references") or []
        for ref in refs:
            if self.version_id(ref["subject"], ref["version"]) is None:
                raise ValueError("42201")
        found = next((i for i, s in self.schemas.items() if self.same(s, body)), None)
        if found is None:
            found = len(self.schemas) + 1
            self.schemas[found] = {"schema": text, "schemaType": kind, "references": refs}
        versions = self.subjects.setdefault(subject, [])
        if found not in versions:
            versions.append(found)
        return found, versions.index(found) + 1


class Handler(BaseHTTPRequestHandler):
    state: State

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, code: int, message: str) -> None:
        self._send(status, {"error_code": code, "message": message})

    def _route(self, method: str) -> None:
        state = self.state
        url = urlparse(self.path)
        state.requests.append(f"{method} {url.path}")
        if state.down:
            self._error(500, 50001, "store error")
            return
        if f"{method} {url.path}" in state.answers:
            self._send(200, state.answers[f"{method} {url.path}"])
            return
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        query = parse_qs(url.query)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else {}
        if parts[:2] == ["schemas", "ids"] and len(parts) >= 3:
            schema_id = int(parts[2])
            schema = state.schemas.get(schema_id)
            if schema is None:
                self._error(404, 40403, "Schema not found")
            elif len(parts) == 3:
                out = {"schema": schema["schema"], "schemaType": schema["schemaType"]}
                if schema["references"]:
                    out["references"] = schema["references"]
                self._send(200, out)
            elif parts[3] == "versions":
                pairs = [
                    {"subject": s, "version": ids.index(schema_id) + 1}
                    for s, ids in state.subjects.items()
                    if schema_id in ids
                ]
                self._send(200, pairs)
            elif parts[3] == "subjects":
                self._send(200, [s for s, ids in state.subjects.items() if schema_id in ids])
            return
        if parts == ["subjects"]:
            self._send(200, sorted(s for s in state.subjects if s not in state.deleted))
            return
        if parts[0] == "config":
            if len(parts) == 1:
                if method == "PUT":
                    state.compatibility = body["compatibility"]
                self._send(200, {"compatibilityLevel": state.compatibility})
                return
            subject = parts[1]
            if method == "PUT":
                if body.get("compatibility") not in LEVELS:
                    self._error(422, 42203, "Invalid compatibility level")
                    return
                state.configs[subject] = body["compatibility"]
                self._send(200, {"compatibility": body["compatibility"]})
                return
            own = state.configs.get(subject)
            if own is None and query.get("defaultToGlobal") != ["true"]:
                self._error(404, 40408, f"Subject '{subject}' does not have subject-level compatibility configured")
                return
            self._send(200, {"compatibilityLevel": own or state.compatibility})
            return
        if parts[:2] == ["compatibility", "subjects"] and len(parts) == 5 and method == "POST":
            subject = parts[2]
            if subject not in state.subjects or subject in state.deleted:
                self._error(404, 40401, f"Subject '{subject}' not found.")
                return
            messages = state.incompatible(subject, body)
            verdict: dict[str, Any] = {"is_compatible": not messages}
            if query.get("verbose") == ["true"]:
                verdict["messages"] = messages
            self._send(200, verdict)
            return
        if parts[0] == "subjects" and len(parts) == 2 and method == "DELETE":
            subject = parts[1]
            if subject not in state.subjects:
                self._error(404, 40401, f"Subject '{subject}' not found.")
                return
            permanent = query.get("permanent") == ["true"]
            if permanent and subject not in state.deleted:
                self._error(404, 40405, f"Subject '{subject}' was not deleted first before being permanently deleted")
                return
            if not permanent and subject in state.deleted:
                self._error(
                    404, 40404, f"Subject '{subject}' was soft deleted.Set permanent=true to delete permanently"
                )
                return
            versions = list(range(1, len(state.subjects[subject]) + 1))
            if permanent:
                del state.subjects[subject]
                state.deleted.discard(subject)
                state.configs.pop(subject, None)
            else:
                state.deleted.add(subject)
            self._send(200, versions)
            return
        if parts[0] == "subjects" and len(parts) >= 2 and parts[1] in state.deleted:
            self._error(404, 40401, f"Subject '{parts[1]}' not found.")
            return
        if parts[0] == "subjects" and len(parts) >= 2:
            subject = parts[1]
            if len(parts) == 2 and method == "POST":  # look a schema up under a subject
                ids = state.subjects.get(subject)
                if ids is None:
                    self._error(404, 40401, "Subject not found")
                    return
                for version, schema_id in enumerate(ids, 1):
                    if state.same(state.schemas[schema_id], {"schemaType": "AVRO", **body}):
                        s = state.schemas[schema_id]
                        self._send(200, {"subject": subject, "version": version, "id": schema_id, **s})
                        return
                self._error(404, 40403, "Schema not found")
                return
            if len(parts) >= 3 and parts[2] == "versions":
                if method == "POST":
                    if state.incompatible(subject, body):
                        self._error(409, 409, "Schema being registered is incompatible with an earlier schema")
                        return
                    try:
                        schema_id, _ = state.register(subject, body)
                    except ValueError:
                        self._error(422, 42201, "Invalid schema")
                        return
                    self._send(200, {"id": schema_id})
                    return
                ids = state.subjects.get(subject)
                if ids is None:
                    self._error(404, 40401, "Subject not found")
                    return
                if len(parts) == 3:
                    self._send(200, list(range(1, len(ids) + 1)))
                    return
                version = len(ids) if parts[3] == "latest" else int(parts[3])
                if not 1 <= version <= len(ids):
                    self._error(404, 40402, "Version not found")
                    return
                schema_id = ids[version - 1]
                if len(parts) == 5 and parts[4] == "referencedby":
                    ref = {"subject": subject, "version": version}
                    users = [
                        i
                        for i, s in state.schemas.items()
                        if any({"subject": r["subject"], "version": r["version"]} == ref for r in s["references"])
                    ]
                    self._send(200, users)
                    return
                s = state.schemas[schema_id]
                self._send(200, {"subject": subject, "version": version, "id": schema_id, **s})
                return
        self._error(404, 404, "HTTP 404 Not Found")

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")

    def do_DELETE(self) -> None:
        self._route("DELETE")


class StandinRegistry:
    def __init__(self) -> None:
        self.state = State()
        handler = type("BoundHandler", (Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
