"""Who a provider says a user is, and which groups a provider owns."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models


class OidcIdentity(models.Model):
    """A local user linked to one provider account: ``(issuer, subject)`` is the only key a sign-in
    looks up, so a provider account named like a local password user never becomes that user."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oidc_identity")
    issuer = models.CharField(max_length=500)
    subject = models.CharField(max_length=255)
    preferred_username = models.CharField(max_length=255, blank=True)
    email = models.CharField(max_length=254, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_sign_in_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "OIDC identity"
        verbose_name_plural = "OIDC identities"
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="oidc_identity_issuer_subject")]

    def __str__(self) -> str:
        return f"{self.preferred_username or self.subject} ({self.issuer})"

    def as_audit(self) -> dict[str, str]:
        return {"issuer": self.issuer, "sub": self.subject, "preferred_username": self.preferred_username}


class ProviderGroup(models.Model):
    """Marks a Django group as owned by a provider: its members are whoever the provider's groups
    claim said at their last sign-in. Local groups (the roles included) are never one of these."""

    group = models.OneToOneField(Group, on_delete=models.CASCADE, related_name="provider")
    issuer = models.CharField(max_length=500)
    name = models.CharField(max_length=255, help_text="The group as the provider's claim names it.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "name"], name="oidc_provider_group_issuer_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.issuer})"
