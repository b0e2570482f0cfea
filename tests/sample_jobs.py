"""Jobs the tests scan, as an application's ``myapp.jobs`` module would declare them."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from pyramid_elasticjobs import JobContext, job

#: (job name, ctx, arguments) of every run, cleared by the ``ran`` fixture.
RUNS: list[tuple[str, JobContext, dict[str, Any]]] = []


class ResizeImage(Schema):
    image_id = fields.Int(required=True)
    width = fields.Int(load_default=800)


class Report(Schema):
    day = fields.Date(load_default=None, allow_none=True)
    title = fields.Str(load_default="nightly")


class PermanentError(Exception):
    """Retrying cannot help (the record is gone)."""


@job(schema=ResizeImage, queue="images")
def resize_image(ctx: JobContext, image_id: int, width: int) -> None:
    RUNS.append(("resize_image", ctx, {"image_id": image_id, "width": width}))


@job(schema=Report, periodic=True)
def nightly_report(ctx: JobContext, day: Any, title: str) -> None:
    RUNS.append(("nightly_report", ctx, {"day": day, "title": title}))


@job(name="explode", discard_on=(PermanentError,))
def explode_job(ctx: JobContext) -> None:
    RUNS.append(("explode", ctx, {}))
    raise RuntimeError("boom")


@job(discard_on=(PermanentError,))
def vanish(ctx: JobContext) -> None:
    RUNS.append(("vanish", ctx, {}))
    raise PermanentError("record 7 was deleted")


@job()
def noop(ctx: JobContext) -> None:
    RUNS.append(("noop", ctx, {}))
