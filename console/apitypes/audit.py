"""The audit trail."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field
from typing_extensions import TypedDict

from console.apitypes.common import Page, PageSize

Filter = Annotated[str, Field(max_length=150)]


class AuditQuery(TypedDict, total=False):
    action: Filter
    cluster: Filter
    username: Filter
    result: Filter
    page: Page
    page_size: PageSize


class AuditEvent(TypedDict):
    id: int
    at: str
    username: str
    action: str
    cluster: str
    target: str
    params: Any
    result: str
    message: str


class AuditList(TypedDict):
    items: list[AuditEvent]
    total: int
    page: int
    page_size: int
