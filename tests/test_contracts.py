"""Job contracts that could not survive the trip through SQS are refused at registration.

For each marshmallow option and hook: either the schema is refused, naming the field or
hook and the reason, or arguments enqueued through it load on the worker into the same
keyword arguments (``load(dump(load(x))) == load(x)``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
from marshmallow import (
    EXCLUDE,
    INCLUDE,
    Schema,
    fields,
    post_dump,
    post_load,
    pre_dump,
    pre_load,
    validates_schema,
)

from pyramid_elasticjobs.exceptions import ConfigurationError
from pyramid_elasticjobs.jobs import make_definition


def _job(ctx: Any, **arguments: Any) -> None:
    """A job that takes whatever its schema declares."""


class Point:
    def __init__(self, x: int) -> None:
        self.x = x


class Inner(Schema):
    secret = fields.Str(load_only=True)


class IncludeUnknown(Schema):
    class Meta:
        unknown = INCLUDE

    a = fields.Int()


class ExcludeUnknown(Schema):
    class Meta:
        unknown = EXCLUDE

    a = fields.Int()


class MakesObject(Schema):
    x = fields.Int()

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> Point:
        return Point(**data)


class ChangesDump(Schema):
    x = fields.Int()

    @post_dump
    def shout(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {key.upper(): value for key, value in data.items()}


class ChangesBeforeDump(Schema):
    x = fields.Int()

    @pre_dump
    def double(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {"x": data["x"] * 2}


class StripsOnLoad(Schema):
    name = fields.Str()

    @pre_load
    def strip(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {key: value.strip() for key, value in data.items()}

    @validates_schema
    def not_empty(self, data: dict[str, Any], **kwargs: Any) -> None:
        """A schema-level validator changes nothing that is sent."""


class ComputedOnDump(Schema):
    x = fields.Method(serialize="compute")

    def compute(self, obj: Any) -> int:
        return 1


class Manager(Schema):
    name = fields.Str()
    reports = fields.List(fields.Nested(lambda: Manager()))


def _schema(**declared: Any) -> type[Schema]:
    return Schema.from_dict(declared, name=f"S{uuid.uuid4().hex[:6]}")


REFUSED = [
    pytest.param(
        _schema(token=fields.Str(load_only=True)), "field 'token' is load_only", id="load_only"
    ),
    pytest.param(
        _schema(total=fields.Int(dump_only=True)), "field 'total' is dump_only", id="dump_only"
    ),
    pytest.param(ComputedOnDump, "field 'x' is dump_only", id="Method without deserialize"),
    pytest.param(
        _schema(n=fields.Int(dump_default=5)), "use load_default instead", id="dump_default"
    ),
    pytest.param(
        _schema(x=fields.Function(deserialize=str)),
        "field 'x' is load_only",
        id="Function without serialize",
    ),
    pytest.param(
        _schema(price=fields.Decimal()), "use fields.Decimal(as_string=True)", id="Decimal"
    ),
    pytest.param(
        _schema(inner=fields.Nested(Inner)),
        "field 'inner.secret' is load_only",
        id="nested load_only",
    ),
    pytest.param(
        _schema(items=fields.List(fields.Nested(Inner))),
        "field 'items[].secret' is load_only",
        id="load_only in a list of nested",
    ),
    pytest.param(
        _schema(prices=fields.Dict(values=fields.Decimal())),
        "field 'prices{}' is a Decimal",
        id="Decimal dict values",
    ),
    pytest.param(
        _schema(pair=fields.Tuple((fields.Int(), fields.Decimal()))),
        "field 'pair[1]' is a Decimal",
        id="Decimal in a tuple",
    ),
    pytest.param(IncludeUnknown, "unknown=INCLUDE", id="unknown=INCLUDE"),
    pytest.param(MakesObject, "@post_load hook (make)", id="post_load returning an object"),
    pytest.param(ChangesDump, "@post_dump hook (shout)", id="post_dump"),
    pytest.param(ChangesBeforeDump, "@pre_dump hook (double)", id="pre_dump"),
    pytest.param(_schema(a=fields.Int())(many=True), "many=True", id="many=True"),
]


@pytest.mark.parametrize(("schema", "reason"), REFUSED)
def test_schema_that_cannot_round_trip_is_refused_at_registration(schema: Any, reason: str) -> None:
    """The error names the job, the field or hook, and what to change."""
    with pytest.raises(ConfigurationError, match="cannot carry arguments through SQS") as raised:
        make_definition(_job, schema=schema, name="contract")
    assert "job 'contract'" in str(raised.value)
    assert reason in str(raised.value)


ACCEPTED = [
    pytest.param(_schema(n=fields.Int(required=True)), {"n": 3}, id="required"),
    pytest.param(_schema(n=fields.Int(load_default=5)), {}, id="load_default"),
    pytest.param(_schema(n=fields.Int(allow_none=True)), {"n": None}, id="allow_none"),
    pytest.param(_schema(n=fields.Int(data_key="N")), {"N": 1}, id="data_key"),
    pytest.param(_schema(n=fields.Int(attribute="number")), {"n": 1}, id="attribute"),
    pytest.param(
        _schema(price=fields.Decimal(as_string=True)), {"price": "1.10"}, id="Decimal as_string"
    ),
    pytest.param(
        _schema(at=fields.AwareDateTime()), {"at": "2026-12-02T10:00:00+01:00"}, id="AwareDateTime"
    ),
    pytest.param(
        _schema(day=fields.Date()), {"day": dt.date(2026, 12, 2)}, id="Date given as a date"
    ),
    pytest.param(_schema(id=fields.UUID()), {"id": uuid.UUID(int=7)}, id="UUID"),
    pytest.param(_schema(tags=fields.List(fields.Str())), {"tags": ["a"]}, id="List"),
    pytest.param(_schema(raw=fields.Raw()), {"raw": {"k": [1, "x"]}}, id="Raw JSON value"),
    pytest.param(
        _schema(pair=fields.Tuple((fields.Int(), fields.Str()))), {"pair": (1, "a")}, id="Tuple"
    ),
    pytest.param(ExcludeUnknown, {"a": 1, "b": 2}, id="unknown=EXCLUDE"),
    pytest.param(StripsOnLoad, {"name": "  ada "}, id="pre_load and validates_schema"),
    pytest.param(
        Manager, {"name": "a", "reports": [{"name": "b", "reports": []}]}, id="self-nesting"
    ),
]


@pytest.mark.parametrize(("schema", "arguments"), ACCEPTED)
def test_accepted_schema_round_trips(schema: Any, arguments: dict[str, Any]) -> None:
    """What enqueue sends loads on the worker into exactly what enqueue validated."""
    definition = make_definition(_job, schema=schema, name="contract")
    loaded = definition.load(arguments)
    assert definition.load(definition.dump(loaded)) == loaded


def test_redact_must_name_declared_fields() -> None:
    """redact lists schema fields; a typo or a bare string is an error at registration."""
    schema = _schema(user=fields.Str(), password=fields.Str())
    with pytest.raises(ConfigurationError, match="redact names pasword, which the schema does not"):
        make_definition(_job, schema=schema, name="login", redact=("pasword",))
    with pytest.raises(
        ConfigurationError, match=r"redact takes a tuple of field names, e\.g\. \('password',\)"
    ):
        make_definition(_job, schema=schema, name="login", redact="password")
    definition = make_definition(_job, schema=schema, name="login", redact=("password",))
    assert definition.redacted({"user": "ada", "password": "x"}) == {
        "user": "ada",
        "password": "[redacted]",
    }


def test_decimal_values_are_sent_as_text() -> None:
    """A Decimal(as_string=True) field keeps every digit across the trip."""
    definition = make_definition(_job, schema=_schema(p=fields.Decimal(as_string=True)), name="d")
    assert definition.load(definition.dump(definition.load({"p": Decimal("0.1")}))) == {
        "p": Decimal("0.1")
    }
