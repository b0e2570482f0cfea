"""The jobs the benchmark apps register, as an application's ``myapp.jobs`` would declare them."""

from __future__ import annotations

from marshmallow import Schema, fields

from pyramid_elasticjobs import JobContext, job


class ResizeImage(Schema):
    image_id = fields.Int(required=True)
    width = fields.Int(load_default=800)


@job(schema=ResizeImage, queue="images")
def resize_image(ctx: JobContext, image_id: int, width: int) -> None:
    """The README's example contract: what ``enqueue`` validates, dumps and signs."""


@job()
def noop(ctx: JobContext) -> None:
    """Does nothing, so a delivery measures only the worker's own cost."""


@job(periodic=True)
def nightly_report(ctx: JobContext) -> None:
    """Registered so the app has several jobs, as a real one does."""
