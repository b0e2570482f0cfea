"""The example's jobs: one enqueued by a view, one periodic, one to verify a deployment."""

from __future__ import annotations

import logging

from marshmallow import Schema, fields

from pyramid_elasticjobs import JobContext, job

log = logging.getLogger(__name__)


class WelcomeEmail(Schema):
    user_id = fields.Int(required=True)


@job(schema=WelcomeEmail)
def send_welcome_email(ctx: JobContext, user_id: int) -> None:
    """Runs on the worker environment when the daemon delivers the message."""
    log.info("welcome email for user %s (job %s, attempt %s)", user_id, ctx.job_id, ctx.attempt)


@job(periodic=True)
def nightly_report(ctx: JobContext) -> None:
    """Started by cron.yaml; every schema field of a periodic job needs a default."""
    log.info("nightly report scheduled at %s", ctx.scheduled_at)


class SmokeTest(Schema):
    note = fields.Str(load_default="smoke test")


@job(schema=SmokeTest)
def smoke_test(ctx: JobContext, note: str) -> None:
    """Enqueue once after a deploy: its log line on the worker proves the whole path works."""
    log.info("smoke_test ran: %s (job %s)", note, ctx.job_id)
