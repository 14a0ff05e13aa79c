"""Sign-in through the OpenID provider beside the local login, and the logout that ends both sessions."""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import alogin, alogout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.urls import URLPattern, path, reverse
from django.utils.http import url_has_allowed_host_and_scheme

from console.access import can_read
from console.web import arender
from streams.oidc import accounts, provider

logger = logging.getLogger("console.sso")
NEXT_KEY = "oidc_next"
ID_TOKEN_KEY = "oidc_id_token"  # noqa: S105 - a session key, not a secret
# The user is linked by the callback, not by a password check: Django needs a backend to name.
BACKEND = "django.contrib.auth.backends.ModelBackend"


class LoginView(auth_views.LoginView):
    """The local login form, and "Sign in with <provider>" when single sign-on is configured."""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        if provider.configured():
            context["sso_name"] = provider.display_name()
        return context


async def _failed(request: HttpRequest, message: str, status: int) -> HttpResponse:
    return await arender(request, "registration/sso_failed.html", {"error": message, "status": status}, status)


def _safe_next(request: HttpRequest, target: str) -> str:
    allowed = url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure())
    return target if target and allowed else ""


@login_not_required
async def sign_in(request: HttpRequest) -> HttpResponse:
    """Off to the provider's authorization endpoint (state, nonce and PKCE verifier kept in the session)."""
    if not provider.configured():
        return await _failed(request, "Single sign-on is not configured.", 404)
    await request.session.aset(NEXT_KEY, _safe_next(request, request.GET.get("next", "")))
    callback = request.build_absolute_uri(reverse("oidc-callback"))
    try:
        url = await sync_to_async(provider.authorize_redirect_url)(request, callback)
    except provider.SignInFailed as exc:
        logger.warning("Single sign-on unavailable: %s", exc.message)
        return await _failed(request, exc.message, 503)
    return HttpResponseRedirect(url)


@login_not_required
async def callback(request: HttpRequest) -> HttpResponse:
    if not provider.configured():
        return await _failed(request, "Single sign-on is not configured.", 404)
    try:
        signed = await sync_to_async(provider.finish)(request)
        user = await accounts.do_sign_in(signed.claims)
    except provider.SignInFailed as exc:
        logger.warning("Single sign-on refused: %s", exc.message)
        return await _failed(request, exc.message, 403)
    target = await request.session.apop(NEXT_KEY, "")
    await alogin(request, user, backend=BACKEND)
    await request.session.aset(ID_TOKEN_KEY, signed.id_token)
    if not await can_read(user):
        return HttpResponseRedirect(reverse("no-access"))
    return HttpResponseRedirect(target or resolve_url(settings.LOGIN_REDIRECT_URL))


@login_not_required
async def logout(request: HttpRequest) -> HttpResponse:
    """Ends the session; after a single sign-on, also the provider's (its end-session endpoint)."""
    if request.method != "POST":
        return HttpResponse(status=405, headers={"Allow": "POST"})
    id_token = await request.session.aget(ID_TOKEN_KEY)
    await alogout(request)
    after = resolve_url(settings.LOGOUT_REDIRECT_URL)
    if id_token and provider.configured():
        url = await sync_to_async(provider.end_session_url)(str(id_token), request.build_absolute_uri(after))
        if url:
            return HttpResponseRedirect(url)
    return HttpResponseRedirect(after)


async def no_access(request: HttpRequest) -> HttpResponse:
    """Signed in, but nothing grants rights yet: say so (rather than a 403 on every page)."""
    user = await request.auser()
    identity = await accounts.identity_of(user)
    groups = [name async for name in user.groups.order_by("name").values_list("name", flat=True)]
    context = {"identity": identity, "groups": groups, "may_read": await can_read(user)}
    return await arender(request, "registration/no_access.html", context)


urlpatterns: list[URLPattern] = [
    path("accounts/oidc/login/", sign_in, name="oidc-login"),
    path("accounts/oidc/callback/", callback, name="oidc-callback"),
    path("accounts/no-access/", no_access, name="no-access"),
]
