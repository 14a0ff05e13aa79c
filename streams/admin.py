"""Admin for clusters, tokens and the audit trail. Secrets are write-only here, and never shown
to staff who may only view.

Cluster changes go through the action functions (audited). Managed consumers are shown, not
edited: the Workers page does that (its checks, its audit, pause and resume on the server).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import async_to_sync
from django import forms
from django.conf import settings
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from streams import policies
from streams.cluster_actions import do_delete_cluster, do_save_cluster
from streams.clusters import ClusterConfigError, validate_monitor_url, validate_servers, validate_webhook_url
from streams.models import ApiToken, AuditEvent, Cluster, Policy
from streams.redact import display_servers, display_url
from streams.workers.models import ConsumerInstance, ManagedConsumer


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
                continue  # a view-only page: the masked value stands in
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
    # Shown instead of the secret fields to staff who may view but not change.
    masked = tuple(f"{name}_masked" for name in Cluster.SECRET_FIELDS)
    readonly_fields = masked

    @admin.display(description="servers")
    def shown_servers(self, obj: Cluster) -> str:
        return _shown_servers(obj.servers)

    @admin.display(description="monitor URL")
    def shown_monitor_url(self, obj: Cluster) -> str:
        return display_url(obj.monitor_url)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        """A view-only page renders stored values as they are: secrets become "set (hidden)" and
        the URL fields lose their credentials."""
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or self.has_change_permission(request, obj):
            return [(name, {**opts, "fields": [f for f in opts["fields"] if f not in self.masked]})
                    for name, opts in fieldsets]  # fmt: skip
        swap: dict[Any, Any] = {name: f"{name}_masked" for name in Cluster.SECRET_FIELDS}
        swap.update({"servers": "shown_servers", "monitor_url": "shown_monitor_url"})
        return [(name, {**opts, "fields": [swap.get(f, f) for f in opts["fields"]]}) for name, opts in fieldsets]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return (*super().get_readonly_fields(request, obj), "shown_servers", "shown_monitor_url")

    def save_model(self, request: HttpRequest, obj: Cluster, form: forms.ModelForm, change: bool) -> None:
        # What really changes: a secret left empty keeps its value, though the form counts it changed.
        before = Cluster.objects.filter(pk=obj.pk).first() if change else None
        changed = [f for f in form.changed_data if before is None or getattr(before, f) != getattr(obj, f)]
        async_to_sync(do_save_cluster)(_actor(request), obj, changed, created=not change)

    def delete_model(self, request: HttpRequest, obj: Cluster) -> None:
        async_to_sync(do_delete_cluster)(_actor(request), obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Cluster]) -> None:
        for cluster in queryset:
            self.delete_model(request, cluster)


def _masked(name: str) -> Callable[[ClusterAdmin, Cluster], str]:
    def show(self: ClusterAdmin, obj: Cluster) -> str:
        return "set (hidden)" if getattr(obj, name, "") else "not set"

    show.__name__ = f"{name}_masked"
    show.short_description = str(getattr(Cluster._meta.get_field(name), "verbose_name", name))  # type: ignore[attr-defined]
    return show


for _name in Cluster.SECRET_FIELDS:
    setattr(ClusterAdmin, f"{_name}_masked", _masked(_name))


def _actor(request: HttpRequest) -> Any:
    return request.user if request.user.is_authenticated else None


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


@admin.register(ManagedConsumer)
class ManagedConsumerAdmin(admin.ModelAdmin):
    """Read-only: create, edit, pause, resume, restart and delete on the Workers page."""

    list_display = ("name", "console", "cluster", "source_kind", "source", "group", "handler", "desired", "generation")
    list_filter = ("source_kind", "desired", "handler")
    search_fields = ("name", "source", "group")
    readonly_fields = ("console",)

    @admin.display(description="Console")
    def console(self, obj: ManagedConsumer) -> str:
        return format_html('<a href="{}">Edit on the Workers page</a>', reverse("worker", args=[obj.name]))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ConsumerInstance)
class ConsumerInstanceAdmin(admin.ModelAdmin):
    list_display = ("consumer", "instance_id", "state", "heartbeat_at", "processed", "failed", "dead_lettered")
    list_filter = ("state",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class PolicyForm(forms.ModelForm):
    actions = forms.MultipleChoiceField(
        choices=[(a, a) for a in policies.ACTIONS], widget=forms.CheckboxSelectMultiple, required=True
    )

    class Meta:
        model = Policy
        fields = ["name", "enabled", "groups", "clusters", "actions", *Policy.RESOURCE_FIELDS, "cluster"]
        widgets = {name: forms.Textarea(attrs={"rows": 2}) for name in ("groups", "clusters", *Policy.RESOURCE_FIELDS)}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        row = Policy(**{k: v for k, v in data.items() if k in {f.name for f in Policy._meta.fields}})
        try:
            policies.from_mapping(row.as_mapping(), "this policy")
        except policies.PolicyError as exc:
            raise forms.ValidationError(str(exc).removeprefix("this policy: ")) from None
        return data


@admin.register(Policy)
class PolicyAdmin(admin.ModelAdmin):
    """Policies kept here add to those of STREAMDESK_POLICIES, which the list shows read-only."""

    form = PolicyForm
    list_display = ("name", "enabled", "groups", "clusters", "shown_actions", "updated_at")
    list_filter = ("enabled",)
    search_fields = ("name", "groups")
    change_list_template = "admin/streams/policy/change_list.html"

    @admin.display(description="actions")
    def shown_actions(self, obj: Policy) -> str:
        return ", ".join(obj.actions or [])

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        context = {**(extra_context or {}), "file_path": settings.POLICIES_FILE}
        if settings.POLICIES_FILE:
            try:
                context["file_policies"] = [p.as_api() for p in policies.load(settings.POLICIES_FILE)]
            except policies.PolicyError as exc:
                context["file_error"] = str(exc)
        return super().changelist_view(request, extra_context=context)
