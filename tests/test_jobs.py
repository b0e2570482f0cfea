"""Declaring jobs: @job + scan, config.add_job, and the checks made at start-up."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from marshmallow import Schema, fields
from pyramid.config import Configurator
from pyramid.exceptions import ConfigurationConflictError

from pyramid_elasticjobs import ConfigurationError, InvalidJobArguments, UnknownJobError, job
from pyramid_elasticjobs.jobs import JOBS_KEY, make_definition

from . import sample_jobs


class NeedsId(Schema):
    record_id = fields.Int(required=True)


class HasDelayField(Schema):
    delay = fields.Int()


def do_nothing(ctx: Any) -> None:
    """A job body for declarations that are never run."""


def test_scan_registers_decorated_jobs(app: Any) -> None:
    """config.scan() finds @job functions; names default to the function name."""
    jobs = app.registry[JOBS_KEY]
    assert jobs.names() == ["explode", "nightly_report", "noop", "resize_image", "vanish"]
    definition = jobs.resolve(sample_jobs.resize_image)
    assert (definition.name, definition.queue) == ("resize_image", "images")
    assert jobs.get("explode").func is sample_jobs.explode_job


def test_decorated_function_stays_callable() -> None:
    """@job returns the function itself, so it can still be called directly."""
    assert job()(do_nothing) is do_nothing


def test_add_job_registers_imperatively(make_app: Callable[..., Any]) -> None:
    """config.add_job takes a function (or dotted name), a schema and a name."""

    def configure(config: Configurator) -> None:
        config.add_job(do_nothing, schema=NeedsId, name="cleanup", queue="maintenance")
        config.add_job("tests.test_jobs.do_nothing", name="dotted")

    jobs = make_app(configure).registry[JOBS_KEY]
    assert jobs.get("cleanup").queue == "maintenance"
    assert jobs.get("cleanup").required_fields == {"record_id"}
    assert jobs.get("dotted").func is do_nothing


def test_same_name_twice_conflicts(make_app: Callable[..., Any]) -> None:
    """Two jobs registered under one name are a configuration conflict, not a silent override."""

    def configure(config: Configurator) -> None:
        config.add_job(do_nothing, name="noop")

    with pytest.raises(ConfigurationConflictError, match=r"elasticjobs\.job.*noop"):
        make_app(configure)


def test_periodic_job_with_required_fields_is_refused_at_scan() -> None:
    """periodic=True with a required field fails when declared, naming the fields."""
    with pytest.raises(ConfigurationError, match="record_id are required"):
        make_definition(do_nothing, schema=NeedsId, periodic=True)


def test_schema_field_clashing_with_enqueue_options_is_refused() -> None:
    """A field named like an enqueue() option (delay...) could never be passed: refused."""
    with pytest.raises(ConfigurationError, match="delay clash with enqueue"):
        make_definition(do_nothing, schema=HasDelayField)


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"schema": dict}, "schema must be a marshmallow Schema"),
        ({"name": "9lives"}, "invalid job name"),
        ({"name": "has space"}, "invalid job name"),
        ({"discard_on": ("not an exception",)}, "discard_on must list exception classes"),
    ],
)
def test_bad_declarations_are_explained(options: dict[str, Any], fragment: str) -> None:
    """Each kind of wrong declaration fails with a message saying what to fix."""
    with pytest.raises(ConfigurationError, match=fragment):
        make_definition(do_nothing, **options)


def test_load_reports_every_field_problem() -> None:
    """Invalid arguments list each field with its problem."""
    definition = make_definition(do_nothing, schema=sample_jobs.ResizeImage, name="resize")
    with pytest.raises(InvalidJobArguments) as raised:
        definition.load({"width": "wide", "colour": "red"})
    assert set(raised.value.errors) == {"image_id", "width", "colour"}
    message = str(raised.value)
    assert "image_id: Missing data for required field." in message
    assert "width: Not a valid integer." in message
    assert "colour: Unknown field." in message


def test_job_without_schema_takes_no_arguments() -> None:
    """A job declared without a schema refuses any argument."""
    definition = make_definition(do_nothing)
    assert definition.load({}) == {}
    with pytest.raises(InvalidJobArguments, match="surprise"):
        definition.load({"surprise": 1})


def test_unknown_job_lists_registered_ones(app: Any) -> None:
    """Looking up an unknown job says which jobs exist."""
    with pytest.raises(UnknownJobError, match=r"'resize' is registered \(registered jobs: explode"):
        app.registry[JOBS_KEY].get("resize")
    with pytest.raises(UnknownJobError, match="do_nothing"):
        app.registry[JOBS_KEY].resolve(do_nothing)
