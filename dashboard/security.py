"""Secure by default: a security policy or an explicit opt-out, CSRF-checked POSTs, and
headers that keep the pages from being framed, cached or made to run injected script."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pyramid.csrf import LegacySessionCSRFStoragePolicy
from pyramid.interfaces import ICSRFStoragePolicy, ISecurityPolicy, ISessionFactory

from pyramid_elasticjobs.exceptions import ConfigurationError

if TYPE_CHECKING:
    from pyramid.events import NewResponse
    from pyramid.registry import Registry

    from .settings import DashboardSettings

#: Route names start with this, so the response headers know the dashboard's pages.
ROUTE_PREFIX = "elasticjobs.dashboard."

#: No inline script or style anywhere: the pages' only script is static/dashboard.js.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)
SECURITY_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Frame-Options", "DENY"),
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
)


def check_security(registry: Registry, settings: DashboardSettings) -> bool:
    """Refuse to mount without a security policy (unless told); True if the pages are open.

    Runs after the application's security policy and session factory are registered.
    """
    if registry.queryUtility(ISecurityPolicy) is None:
        if not settings.allow_anonymous:
            raise ConfigurationError(
                "the elasticjobs dashboard needs a security policy, or anyone who reaches it "
                "could redrive and purge queues: call config.set_security_policy(...) with a "
                f"policy that grants {settings.view_permission!r} (and "
                f"{settings.manage_permission!r} for actions) to your operators; in "
                "development only, set elasticjobs.dashboard.allow_anonymous = true"
            )
        anonymous = True
    else:
        anonymous = False
    if not settings.read_only and _csrf_needs_a_session(registry):
        raise ConfigurationError(
            "the elasticjobs dashboard's actions are CSRF-checked POSTs, and the application "
            "has neither a session factory nor a CSRF storage policy: call "
            "config.set_session_factory(...) or "
            "config.set_csrf_storage_policy(pyramid.csrf.CookieCSRFStoragePolicy()), or set "
            "elasticjobs.dashboard.read_only = true"
        )
    return anonymous


def _csrf_needs_a_session(registry: Registry) -> bool:
    policy = registry.queryUtility(ICSRFStoragePolicy)
    legacy = policy is None or isinstance(policy, LegacySessionCSRFStoragePolicy)
    return legacy and registry.queryUtility(ISessionFactory) is None


def security_headers_subscriber(static_route: str) -> Callable[[NewResponse], None]:
    """Sets the headers on the dashboard's own responses (pages, static files, refusals)."""
    prefixes = (ROUTE_PREFIX, static_route)

    def add_security_headers(event: NewResponse) -> None:
        route = getattr(event.request, "matched_route", None)
        if route is not None and route.name.startswith(prefixes):
            headers = event.response.headers
            for name, value in SECURITY_HEADERS:
                headers[name] = value

    return add_security_headers
