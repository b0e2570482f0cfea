"""The application the CLI tests load from real ini files, and helpers to write and run them.

``main`` is a paste app factory (``use = call:tests.cli_support:main``): it scans the
sample jobs, a job whose contract uses every kind of field marshmallow ships, and,
as its settings ask, a job whose contract changes between two versions or a periodic
job whose defaults fail their own validation.
"""

from __future__ import annotations

import enum
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from marshmallow import Schema, fields, validate
from pyramid.config import Configurator
from pyramid.router import Router

from pyramid_elasticjobs import JobContext, job

from . import sample_jobs
from .support import REGION, SECRET

ROOT = Path(__file__).resolve().parent.parent

#: ``[app:main]`` keys read by ``main`` only (not elasticjobs.* keys).
CONTRACT_VERSION = "cli_tests.contract_version"
BROKEN_PERIODIC = "cli_tests.broken_periodic"


class Colour(enum.Enum):
    RED = "red"
    GREEN = "green"


class Address(Schema):
    street = fields.Str(required=True, validate=validate.Length(min=1, max=80))
    zip_code = fields.Str(load_default=None, allow_none=True, data_key="zip")


class Contract(Schema):
    """One field of each kind, with the validators the JSON Schema carries over."""

    count = fields.Int(required=True, validate=validate.Range(min=1, max=10))
    ratio = fields.Float(load_default=0.5, validate=validate.Range(min=0, max=1))
    price = fields.Decimal(as_string=True, load_default=None, allow_none=True)
    name = fields.Str(load_default="x", validate=validate.Length(max=20))
    code = fields.Str(load_default="ab", validate=validate.Regexp(r"^[a-z]+$"))
    level = fields.Str(load_default="low", validate=validate.OneOf(["low", "high"]))
    active = fields.Bool(load_default=True)
    when = fields.AwareDateTime(load_default=None, allow_none=True)
    day = fields.Date(load_default=None, allow_none=True)
    at = fields.Time(load_default=None, allow_none=True)
    ident = fields.UUID(load_default=None, allow_none=True)
    email = fields.Email(load_default=None, allow_none=True)
    site = fields.Url(load_default=None, allow_none=True)
    address = fields.IP(load_default=None, allow_none=True)
    tags = fields.List(fields.Str(), load_default=list, validate=validate.Length(max=3))
    pair = fields.Tuple((fields.Int(), fields.Str()), load_default=None, allow_none=True)
    scores = fields.Dict(keys=fields.Str(), values=fields.Int(), load_default=dict)
    home = fields.Nested(Address, load_default=None, allow_none=True)
    colour = fields.Enum(Colour, by_value=True, load_default=None, allow_none=True)
    shade = fields.Enum(Colour, load_default=None, allow_none=True)
    wait = fields.TimeDelta(load_default=None, allow_none=True)
    anything = fields.Raw(load_default=None, allow_none=True)


@job(schema=Contract, queue="contracts")
def contract_job(ctx: JobContext, **arguments: Any) -> None:
    """Takes every kind of argument, does nothing."""


class EvolvingV1(Schema):
    user_id = fields.Int(required=True)
    note = fields.Str(load_default="")


class EvolvingV2(Schema):
    user_id = fields.Int(required=True)
    note = fields.Str(load_default="")
    priority = fields.Int(required=True)  # new, required, without a default


class BrokenDefaults(Schema):
    mode = fields.Str(load_default="sometimes", validate=validate.OneOf(["always", "never"]))


def evolving(ctx: JobContext, **arguments: Any) -> None:
    """A job whose contract the tests change between two deploys."""


def broken_periodic(ctx: JobContext, mode: str) -> None:
    """A periodic job whose only default fails its own validator."""


def main(global_config: Mapping[str, Any], **settings: Any) -> Router:
    with Configurator(settings=settings) as config:
        config.include("pyramid_elasticjobs")
        config.scan(sample_jobs)
        config.scan("tests.cli_support")
        version = settings.get(CONTRACT_VERSION)
        if version:
            schema = EvolvingV2 if version == "2" else EvolvingV1
            config.add_job(evolving, schema=schema, name="evolving")
        if settings.get(BROKEN_PERIODIC):
            config.add_job(broken_periodic, schema=BrokenDefaults, periodic=True)
    router: Router = config.make_wsgi_app()
    return router


def base_settings(sqs_endpoint: str | None, queue_prefix: str) -> dict[str, str]:
    """Sane settings for a local SQS (development) or, without an endpoint, for AWS."""
    settings = {
        "elasticjobs.secret": SECRET,
        "elasticjobs.aws_region": REGION,
        "elasticjobs.queue_prefix": queue_prefix,
        "elasticjobs.max_attempts": "1",
    }
    if sqs_endpoint:
        settings["elasticjobs.endpoint_url"] = sqs_endpoint
    return settings


def write_ini(
    folder: Path,
    settings: Mapping[str, str | None],
    server: Mapping[str, str] | None = None,
    name: str = "app.ini",
) -> Path:
    """An ini file with ``[app:main]`` (keys whose value is None are left out)."""
    lines = ["[app:main]", "use = call:tests.cli_support:main"]
    lines += [f"{key} = {value}" for key, value in settings.items() if value is not None]
    if server is not None:
        lines += ["", "[server:main]", *(f"{key} = {value}" for key, value in server.items())]
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_cli(
    *arguments: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m pyramid_elasticjobs.cli ARGUMENTS`` in its own process, from the repo root."""
    return subprocess.run(
        [sys.executable, "-m", "pyramid_elasticjobs.cli", *arguments],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
