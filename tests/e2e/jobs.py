"""The end-to-end tests' jobs: each run is written to the app's ledger before it answers."""

from __future__ import annotations

import time

from marshmallow import Schema, fields, validate

from pyramid_elasticjobs import JobContext, job

from .app import ledger

NEVER, FIRST_ATTEMPT, ALWAYS = "never", "first_attempt", "always"


class Work(Schema):
    n = fields.Int(required=True)
    fails = fields.Str(load_default=NEVER, validate=validate.OneOf((NEVER, FIRST_ATTEMPT, ALWAYS)))
    seconds = fields.Float(load_default=0.0)


class PlannedFailure(Exception):
    """The failure a test asked for."""


@job(schema=Work)
def work(ctx: JobContext, n: int, fails: str, seconds: float) -> None:
    """Sleep ``seconds``, then fail as ``fails`` says (on the first attempt, or always)."""
    ledger(ctx.registry).record_start(ctx, n)
    time.sleep(seconds)
    failing = fails == ALWAYS or (fails == FIRST_ATTEMPT and ctx.attempt == 1)
    ledger(ctx.registry).record(ctx, n, succeeded=not failing)
    if failing:
        raise PlannedFailure(f"job {n} fails on attempt {ctx.attempt}, as planned")


@job(schema=Work, queue="other")
def elsewhere(ctx: JobContext, n: int, fails: str, seconds: float) -> None:
    """Sleep ``seconds`` and succeed, on the other queue."""
    time.sleep(seconds)
    ledger(ctx.registry).record(ctx, n, succeeded=True)


@job(periodic=True)
def tick(ctx: JobContext) -> None:
    ledger(ctx.registry).record(ctx, 0, succeeded=True)
