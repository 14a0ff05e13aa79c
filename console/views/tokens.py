"""My API tokens: any signed-in user lists, creates (shown once) and revokes their own tokens.

Users created by single sign-on have no password and no admin: this page is how they get a
token for scripts. A token acts as its user, so it needs no role of its own to be issued.
"""

from __future__ import annotations

from typing import Any, cast

from asgiref.sync import sync_to_async
from django.contrib import messages
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers

from console.web import arender, error_page
from streams.errors import InvalidInput, NotFound
from streams.token_actions import MAX_DAYS, do_create_token, do_revoke_token, parse_days, tokens_of


async def tokens_page(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD", "POST"):
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    user = cast(User, await request.auser())
    context: dict[str, Any] = {"max_days": MAX_DAYS, "form": {}}
    status = 200
    if request.method == "POST":
        form = {key: request.POST.get(key, "") for key in ("name", "days", "read_only")}
        context["form"] = form
        try:
            token, raw = await do_create_token(
                user, name=form["name"], days=parse_days(form["days"]), read_only=bool(form["read_only"])
            )
        except InvalidInput as exc:
            context.update(form_error=exc.message, form_field=exc.field)
            status = 400
        else:
            # The raw value is in this answer only; it is never stored.
            context.update(created=token, raw=raw, form={})
    context["tokens"] = await tokens_of(user)
    context["now"] = timezone.now()
    response = await arender(request, "account/tokens.html", context, status)
    add_never_cache_headers(response)
    return response


async def revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    if request.method != "POST":
        return HttpResponse(status=405, headers={"Allow": "POST"})
    user = cast(User, await request.auser())
    try:
        token = await do_revoke_token(user, token_id)
    except NotFound as exc:
        return await error_page(request, exc.message, 404)
    await sync_to_async(messages.success)(request, f"Token {token.prefix}… revoked: it no longer works.")
    return HttpResponseRedirect(reverse("account-tokens"))


urlpatterns: list[URLPattern] = [
    path("accounts/tokens/", tokens_page, name="account-tokens"),
    path("accounts/tokens/<int:token_id>/revoke", revoke, name="account-token-revoke"),
]
