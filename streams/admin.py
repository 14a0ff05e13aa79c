"""Admin for clusters, tokens and the audit trail. Secrets are write-only here."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from streams.clusters import ClusterConfigError, validate_monitor_url, validate_servers, validate_webhook_url
from streams.errors import InvalidInput
from streams.models import ApiToken, AuditEvent, Cluster
from streams.redact import display_servers, display_url
from streams.workers import registry as handlers
from streams.workers.models import ConsumerInstance, ManagedConsumer
from streams.workers.notify import notify_runners


def _shown_servers(servers: str) -> str:
    return ",".join(display_servers(s.strip() for s in servers.split(",") if s.strip()))


# Fields whose stored value may carry URL credentials: shown without them, kept when sent back unchanged.
URL_FIELDS = {"servers": _shown_servers, "monitor_url": display_url}


class ClusterForm(forms.ModelForm):
    class Meta:
        model = Cluster
        fields = [f.name for f in Cluster._meta.fields if f.name not in ("id", "created_at", "updated_at")]
        widgets = {name: forms.PasswordInput(render_value=False) for name in Cluster.SECRET_FIELDS}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A view-only page builds this form without its fields (they are all read-only there).
        for name in Cluster.SECRET_FIELDS:
            if name not in self.fields:
                continue
            self.fields[name].required = False
            if self.instance.pk and getattr(self.instance, name):
                self.fields[name].help_text = "Set. Leave empty to keep it; type a new value to replace it."
        for name, shown in URL_FIELDS.items():
            stored = getattr(self.instance, name) if self.instance.pk else ""
            if name in self.fields and stored and shown(stored) != stored:
                self.initial[name] = shown(stored)
                self.fields[
                    name
                ].help_text = (
                    "Holds credentials, not shown. Send it back unchanged to keep them; a changed value replaces them."
                )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name, shown in URL_FIELDS.items():
            stored = getattr(self.instance, name) if self.instance.pk else ""
            if stored and data.get(name) == shown(stored):
                data[name] = stored
        servers = tuple(s.strip() for s in (data.get("servers") or "").split(",") if s.strip())
        try:
            validate_servers(data.get("kind", ""), servers, "servers")
        except ClusterConfigError as exc:
            self.add_error("servers", str(exc).removeprefix("servers: "))
        try:
            validate_monitor_url(data.get("monitor_url", ""), "monitor_url")
        except ClusterConfigError as exc:
            self.add_error("monitor_url", str(exc).removeprefix("monitor_url: "))
        try:
            validate_webhook_url(data.get("alert_webhook_url", ""), "alert_webhook_url")
        except ClusterConfigError as exc:
            self.add_error("alert_webhook_url", str(exc).removeprefix("alert_webhook_url: "))
        for name in Cluster.SECRET_FIELDS:
            if not data.get(name) and self.instance.pk:
                data[name] = getattr(self.instance, name)
        return data


@admin.register(Cluster)
class ClusterAdmin(admin.ModelAdmin):
    form = ClusterForm
    list_display = ("slug", "name", "kind", "shown_servers", "enabled")
    list_filter = ("kind", "enabled")
    fieldsets = (
        (None, {"fields": ("slug", "kind", "name", "enabled", "servers", "monitor_url")}),
        ("Kafka auth", {"fields": ("security_protocol", "sasl_mechanism"), "classes": ("collapse",)}),
        ("Credentials", {"fields": ("username", "password", "token", "nkey_seed", "creds_file")}),
        ("TLS", {"fields": ("tls_ca_file", "tls_cert_file", "tls_key_file"), "classes": ("collapse",)}),
        ("Lag alerts", {"fields": ("alert_webhook_url",)}),
    )

    @admin.display(description="servers")
    def shown_servers(self, obj: Cluster) -> str:
        return _shown_servers(obj.servers)

    @admin.display(description="monitor URL")
    def shown_monitor_url(self, obj: Cluster) -> str:
        return display_url(obj.monitor_url)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        """A view-only page renders stored values as they are: show the URL fields without credentials."""
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or self.has_change_permission(request, obj):
            return fieldsets
        swap: dict[Any, Any] = {"servers": "shown_servers", "monitor_url": "shown_monitor_url"}
        return [
            (title, {**options, "fields": tuple(swap.get(f, f) for f in options.get("fields", ()))})
            for title, options in fieldsets
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return (*super().get_readonly_fields(request, obj), "shown_servers", "shown_monitor_url")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("prefix", "user", "name", "read_only", "expires_at", "created_at", "last_used_at")
    readonly_fields = ("prefix", "created_at", "last_used_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tokens are shown once: issue them with `manage.py create_token`


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "username", "action", "cluster", "target", "result")
    list_filter = ("result", "action", "cluster")
    search_fields = ("username", "target", "message")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ManagedConsumerForm(forms.ModelForm):
    class Meta:
        model = ManagedConsumer
        fields = [
            "name", "cluster", "source_kind", "source", "group", "filter_subject", "handler", "config", "start",
            "batch_size", "concurrency", "max_retries", "retry_backoff_ms", "retry_backoff_max_ms", "dead_letter",
            "desired",
        ]  # fmt: skip

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("handler"):
            try:
                handlers.validated(data["handler"], data.get("config") or {})
            except InvalidInput as exc:
                self.add_error("handler" if exc.field == "handler" else "config", exc.message)
        dead = data.get("dead_letter")
        if dead is not None and not (
            isinstance(dead, dict)
            and isinstance(dead.get("cluster"), str)
            and bool(dead.get("topic")) != bool(dead.get("subject"))
        ):
            self.add_error(
                "dead_letter", 'Give {"cluster": ..., "topic": ...} or {"cluster": ..., "subject": ...}, or null.'
            )
        return data


@admin.register(ManagedConsumer)
class ManagedConsumerAdmin(admin.ModelAdmin):
    """Edits here restart the consumer everywhere, like the Workers page's form (without its broker checks)."""

    form = ManagedConsumerForm
    list_display = ("name", "cluster", "source_kind", "source", "group", "handler", "desired", "generation")
    list_filter = ("source_kind", "desired", "handler")
    search_fields = ("name", "source", "group")
    readonly_fields = ("generation", "processed", "failed", "dead_lettered", "last_error", "last_error_at")

    def save_model(self, request: HttpRequest, obj: ManagedConsumer, form: forms.ModelForm, change: bool) -> None:
        if change:
            obj.generation += 1
        super().save_model(request, obj, form, change)
        notify_runners(obj.name)

    def delete_model(self, request: HttpRequest, obj: ManagedConsumer) -> None:
        super().delete_model(request, obj)
        notify_runners(obj.name)


@admin.register(ConsumerInstance)
class ConsumerInstanceAdmin(admin.ModelAdmin):
    list_display = ("consumer", "instance_id", "state", "heartbeat_at", "processed", "failed", "dead_lettered")
    list_filter = ("state",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
