"""Template helpers: links that ``{% url %}`` cannot spell, lag sparklines and status badges."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from django import template
from django.urls import reverse

from console import charts

register = template.Library()


def group_url(slug: str, group: str, action: str = "") -> str:
    """A consumer group's page (or its ``reset``/``delete`` form): the id is encoded whole,
    "/" included, since Kafka allows it in group ids."""
    url = f"{reverse('kafka-groups', args=[slug])}/{quote(group, safe='')}"
    return f"{url}/{action}" if action else url


register.simple_tag(group_url, name="group_url")


@register.inclusion_tag("lag/_sparkline.html")
def sparkline(values: list[int | None] | None, label: str = "lag") -> dict[str, Any]:
    """An inline SVG of recent lag (oldest first; None is a gap), drawn from numbers only."""
    return {"spark": charts.sparkline(values or []), "label": label}


@register.inclusion_tag("lag/_status.html")
def lag_status(status: str | None) -> dict[str, Any]:
    """Burrow's status as a badge; nothing sampled yet shows as a dash."""
    return {"status": status}
