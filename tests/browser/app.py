"""The application the browser tests serve: the dashboard over the audit log, and two jobs.

``fragile`` fails while the file named by ``browser.flag_path`` exists, so a test can
make a job die, remove the cause, and redrive it from the dashboard; ``steady`` always
succeeds, so a test can make the overview's numbers change while it watches.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from marshmallow import Schema, fields
from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.router import Router
from pyramid.security import Allowed
from pyramid.session import SignedCookieSessionFactory

from pyramid_elasticjobs import JobContext, job

#: The setting naming a signed-in operator (the screenshots): a security policy that
#: grants that user everything, instead of the anonymous dashboard the tests use.
OPERATOR_KEY = "browser.operator"
#: Development only: the session cookie signs the CSRF token of the dashboard's forms.
SESSION_SECRET = "browser-tests-session-secret-0123456789abcdef"


#: The setting naming the flag file: while it exists, every charge_invoice fails.
FLAG_KEY = "browser.flag_path"


class Invoice(Schema):
    invoice = fields.Int(required=True)
    account = fields.Int(required=True)


class Count(Schema):
    n = fields.Int(required=True)


class ChargeDeclined(Exception):
    """What ``fragile`` raises while its flag file exists."""


@job(schema=Invoice, name="charge_invoice", queue="billing")
def fragile(ctx: JobContext, invoice: int, account: int) -> None:
    """Fail while the flag file exists: the cause a test (or an operator) can fix."""
    flag = ctx.registry.settings.get(FLAG_KEY)
    if flag and Path(flag).exists():
        raise ChargeDeclined(
            f"invoice {invoice}: the payment gateway declined the card of account {account}"
        )


@job(schema=Count, name="send_welcome_email")
def steady(ctx: JobContext, n: int) -> None:
    """Succeed at once."""


class OperatorPolicy:
    """Everyone is the one operator, who may do everything (never outside a demo)."""

    def __init__(self, userid: str) -> None:
        self.userid = userid

    def identity(self, request: Request) -> str:
        return self.userid

    def authenticated_userid(self, request: Request) -> str:
        return self.userid

    def permits(self, request: Request, context: Any, permission: str) -> Allowed:
        return Allowed(f"{self.userid} may do everything")

    def remember(self, request: Request, userid: Any, **kw: Any) -> list[tuple[str, str]]:
        return []

    def forget(self, request: Request, **kw: Any) -> list[tuple[str, str]]:
        return []


def main(global_config: dict[str, Any], **settings: Any) -> Router:
    with Configurator(settings=settings) as config:
        config.set_session_factory(SignedCookieSessionFactory(SESSION_SECRET, secure=False))
        if settings.get(OPERATOR_KEY):
            config.set_security_policy(OperatorPolicy(settings[OPERATOR_KEY]))
        config.include("pyramid_elasticjobs")
        config.include("pyramid_elasticjobs.dashboard")
        config.scan("tests.browser.app")
    return config.make_wsgi_app()
