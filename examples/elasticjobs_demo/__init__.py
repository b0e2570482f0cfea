"""A small Pyramid app that shows pyramid_elasticjobs end to end: ``elasticjobs dev``."""

from __future__ import annotations

from typing import Any

from pyramid.config import Configurator
from pyramid.router import Router
from pyramid.session import SignedCookieSessionFactory

from pyramid_elasticjobs import ConfigurationError

SESSION_KEY = "elasticjobs_demo.session_secret"


def main(global_config: dict[str, Any], **settings: Any) -> Router:
    """The paste app factory (``use = egg:pyramid_elasticjobs#demo``)."""
    secret = str(settings.get(SESSION_KEY, "")).strip()
    if len(secret) < 32:
        raise ConfigurationError(
            f"{SESSION_KEY} must be a random string of 32+ characters (it signs the "
            "session cookie); generate one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
        )
    with Configurator(settings=settings) as config:
        config.include("pyramid_jinja2")
        config.include("pyramid_elasticjobs")
        config.set_session_factory(SignedCookieSessionFactory(secret, httponly=True))
        config.set_default_csrf_options(require_csrf=True)
        config.include(".activity")
        config.add_static_view("static", "elasticjobs_demo:static", cache_max_age=3600)
        config.include(".views")
        config.scan(".jobs")
    router: Router = config.make_wsgi_app()
    return router
