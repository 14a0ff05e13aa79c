"""Identities and provider groups are shown, not edited: sign-ins write them."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from streams.oidc.models import OidcIdentity, ProviderGroup


class _ShownOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(OidcIdentity)
class OidcIdentityAdmin(_ShownOnly):
    list_display = ("user", "preferred_username", "subject", "issuer", "last_sign_in_at")
    search_fields = ("user__username", "preferred_username", "subject", "email")


@admin.register(ProviderGroup)
class ProviderGroupAdmin(_ShownOnly):
    list_display = ("group", "name", "issuer")
    search_fields = ("group__name", "name")
