"""A small Pyramid app that shows pyramid_elasticjobs end to end: ``elasticjobs dev``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pyramid.config import Configurator
from pyramid.router import Router
from pyramid.session import SignedCookieSessionFactory

from pyramid_elasticjobs import ConfigurationError
from pyramid_elasticjobs.settings import AUDIT_URL_VARIABLE, audit_url

SESSION_KEY = "elasticjobs_demo.session_secret"


def main(global_config: dict[str, Any], **settings: Any) -> Router:
    """The paste app factory (``use = egg:elasticjobs-demo``)."""
    secret = str(settings.get(SESSION_KEY, "")).strip()
    if len(secret) < 32:
        raise ConfigurationError(
            f"{SESSION_KEY} must be a random string of 32+ characters (it signs the "
            "session cookie); generate one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
        )
    url = audit_url(settings, os.environ)
    if not url:
        raise ConfigurationError(
            "the demo's dashboard reads the audit log: set elasticjobs.audit.url (or "
            f"{AUDIT_URL_VARIABLE}), e.g. sqlite:///%(here)s/var/elasticjobs-audit.sqlite, "
            "with elasticjobs.audit.auto_upgrade = true to create its tables"
        )
    sqlite_folder(url)
    with Configurator(settings=settings) as config:
        config.include("pyramid_jinja2")
        config.include("pyramid_elasticjobs")
        config.set_session_factory(SignedCookieSessionFactory(secret, httponly=True))
        config.set_default_csrf_options(require_csrf=True)
        config.add_static_view("static", "elasticjobs_demo:static", cache_max_age=3600)
        config.include(".views")
        # The operator's side: jobs, failures and dead letters, at /elasticjobs.
        config.include("pyramid_elasticjobs.dashboard")
        config.scan(".jobs")
    router: Router = config.make_wsgi_app()
    return router


def sqlite_folder(url: str) -> None:
    """Create the folder of a SQLite audit file: a fresh clone has no var/ (git-ignores it)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return  # the audit log's own settings check names the key and the fix
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)
