"""The demo's jobs: one of each kind a new user wants to see go through the queue."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from marshmallow import Schema, fields, validate

from pyramid_elasticjobs import JobContext, job

log = logging.getLogger(__name__)

#: What the "delayed" button asks for: beyond SQS's 15-minute DelaySeconds ceiling.
REMINDER_DELAY_MINUTES = 20


class WelcomeEmail(Schema):
    user_id = fields.Int(required=True, strict=True, validate=validate.Range(min=1))
    email = fields.Email(required=True)


class Account(Schema):
    account_id = fields.Int(required=True, validate=validate.Range(min=1))


class Report(Schema):
    seconds = fields.Int(load_default=5, validate=validate.Range(min=0, max=60))


class CrmUnavailable(Exception):
    """The (imaginary) CRM refused the call: worth retrying, so not in ``discard_on``."""


@job(schema=WelcomeEmail)
def send_welcome_email(ctx: JobContext, user_id: int, email: str) -> None:
    log.info("welcome email for user %d sent to %s (attempt %d)", user_id, email, ctx.attempt)


@job(schema=Account)
def sync_to_crm(ctx: JobContext, account_id: int) -> None:
    raise CrmUnavailable(
        f"crm.example.invalid refused account {account_id} (attempt {ctx.attempt})"
    )


@job(schema=Report)
def build_report(ctx: JobContext, seconds: int) -> None:
    time.sleep(seconds)
    log.info("report %s built in %ds", ctx.job_id, seconds)


@job(schema=Account)
def send_reminder(ctx: JobContext, account_id: int) -> None:
    waited = datetime.now(UTC) - ctx.enqueued_at if ctx.enqueued_at else None
    log.info("reminder for account %d sent, %s after it was asked for", account_id, waited)


@job(periodic=True)
def heartbeat(ctx: JobContext) -> None:
    log.info("heartbeat scheduled at %s", ctx.scheduled_at)
