"""Template helpers for links that ``{% url %}`` cannot spell."""

from __future__ import annotations

from urllib.parse import quote

from django import template
from django.urls import reverse

register = template.Library()


def group_url(slug: str, group: str, action: str = "") -> str:
    """A consumer group's page (or its ``reset``/``delete`` form): the id is encoded whole,
    "/" included, since Kafka allows it in group ids."""
    url = f"{reverse('kafka-groups', args=[slug])}/{quote(group, safe='')}"
    return f"{url}/{action}" if action else url


register.simple_tag(group_url, name="group_url")
