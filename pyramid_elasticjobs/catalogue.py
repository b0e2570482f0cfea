"""The catalogue of registered jobs, and each job's argument contract as a JSON Schema.

A non-Python producer (a Node service, a Go lambda) can publish valid jobs only if it
knows what the worker will accept: :func:`args_schema` describes the ``args`` of a
job's envelope in JSON Schema draft 2020-12, for the field types marshmallow ships.
It describes what ``enqueue`` sends (the schema's dump), which the worker's load
always accepts; a field type it does not know is described as "any value", and says so.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import marshmallow
from marshmallow import fields, validate

from .jobs import JobDefinition, JobRegistry
from .settings import ElasticJobsSettings

DRAFT = "https://json-schema.org/draft/2020-12/schema"
#: Marks a document written by ``elasticjobs jobs --json-schema`` (and its version).
SNAPSHOT_KEY = "elasticjobs_contracts"
SNAPSHOT_VERSION = 1

_DECIMAL_PATTERN = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
_NAIVE_DATETIME_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$"
_TIME_PATTERN = r"^\d{2}:\d{2}(:\d{2}(\.\d+)?)?$"


@dataclass(frozen=True, slots=True)
class JobEntry:
    """One row of the catalogue: a registered job, where it runs, and its contract."""

    name: str
    queue: str
    sqs_queue: str
    periodic: bool
    unique: bool
    redact: tuple[str, ...]
    discard_on: tuple[str, ...]
    arguments: tuple[str, ...]  # "image_id: integer (required)", one per field

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "queue": self.queue,
            "sqs_queue": self.sqs_queue,
            "periodic": self.periodic,
            "unique": self.unique,
            "redact": list(self.redact),
            "discard_on": list(self.discard_on),
            "arguments": list(self.arguments),
        }


def catalogue(jobs: JobRegistry, settings: ElasticJobsSettings) -> list[JobEntry]:
    """Every registered job, by name."""
    entries = []
    for definition in sorted(jobs, key=lambda item: item.name):
        queue = definition.queue or settings.default_queue
        entries.append(
            JobEntry(
                name=definition.name,
                queue=queue,
                sqs_queue=settings.sqs_queue_name(queue),
                periodic=definition.periodic,
                unique=definition.unique,
                redact=tuple(sorted(definition.redact)),
                discard_on=tuple(
                    f"{error.__module__}.{error.__qualname__}" for error in definition.discard_on
                ),
                arguments=tuple(describe_arguments(definition)),
            )
        )
    return entries


def describe_arguments(definition: JobDefinition) -> list[str]:
    """One short line per field: ``width: integer = 800``, ``image_id: integer (required)``."""
    document = args_schema(definition)
    required = set(document.get("required", ()))
    lines = []
    for name, schema in document["properties"].items():
        text = f"{name}: {_summary(schema, document)}"
        if name in required:
            text += " (required)"
        elif "default" in schema:
            text += f" = {json.dumps(schema['default'])}"
        lines.append(text)
    return lines


def _summary(schema: Mapping[str, Any], root: Mapping[str, Any]) -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).rpartition("/")[2]
    if "anyOf" in schema:
        return " | ".join(_summary(option, root) for option in schema["anyOf"])
    if "enum" in schema:
        return "one of " + ", ".join(json.dumps(value) for value in schema["enum"])
    if "const" in schema:
        return json.dumps(schema["const"])
    kind = schema.get("type", "any")
    text = " | ".join(kind) if isinstance(kind, list) else str(kind)
    if "format" in schema:
        text += f" ({schema['format']})"
    if kind == "array" and isinstance(schema.get("items"), Mapping):
        text += f" of {_summary(schema['items'], root)}"
    return text


def contracts_document(jobs: Iterable[JobDefinition]) -> dict[str, Any]:
    """The snapshot ``--json-schema`` prints: every job's args schema, by job name."""
    return {
        SNAPSHOT_KEY: SNAPSHOT_VERSION,
        "jobs": {
            definition.name: args_schema(definition)
            for definition in sorted(jobs, key=lambda item: item.name)
        },
    }


def args_schema(definition: JobDefinition) -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the ``args`` object of this job's envelopes."""
    converter = _Converter()
    document: dict[str, Any] = {
        "$schema": DRAFT,
        "title": definition.name,
        "description": f"The args of an envelope of job {definition.name!r}",
        **converter.object_schema(definition.schema),
    }
    if converter.definitions:
        document["$defs"] = converter.definitions
    return document


class _Converter:
    """Schemas to JSON Schema; nested schemas that refer to themselves go into ``$defs``."""

    def __init__(self) -> None:
        self.definitions: dict[str, Any] = {}
        self._open: set[type] = set()

    def object_schema(self, schema: marshmallow.Schema) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        required: list[str] = []
        for name, field in schema.fields.items():
            key = field.data_key or name
            properties[key] = self.field_schema(field)
            if field.required:
                required.append(key)
        result: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            result["required"] = required
        # RAISE (marshmallow's default) refuses unknown keys; EXCLUDE drops them.
        if schema.unknown == marshmallow.RAISE:
            result["additionalProperties"] = False
        return result

    def field_schema(self, field: fields.Field[Any]) -> dict[str, Any]:
        result = self._type_schema(field)
        for validator in field.validators:
            _apply_validator(result, validator, field)
        if field.allow_none:
            result = _nullable(result)
        description = field.metadata.get("description")
        if isinstance(description, str):
            result["description"] = description
        default = field.load_default
        if default is not marshmallow.missing and not callable(default):
            dumped = _json_value(field, default)
            if dumped is not marshmallow.missing:
                result["default"] = dumped
        return result

    def _nested(self, nested: fields.Nested) -> dict[str, Any]:
        schema = nested.schema
        schema_class = type(schema)
        name = schema_class.__name__
        if schema_class in self._open or name in self.definitions:
            # A schema that contains itself (a tree) can only be described by reference.
            self.definitions.setdefault(name, {})
            return {"$ref": f"#/$defs/{name}"}
        self._open.add(schema_class)
        try:
            described = self.object_schema(schema)
        finally:
            self._open.discard(schema_class)
        if name in self.definitions:  # it referred to itself while being described
            self.definitions[name] = described
            return {"$ref": f"#/$defs/{name}"}
        return described

    def _type_schema(self, field: fields.Field[Any]) -> dict[str, Any]:
        # Most specific classes first: Email is a String, AwareDateTime a DateTime...
        if isinstance(field, fields.Pluck):  # one field of a nested schema, sent bare
            inner = self.field_schema(field.schema.fields[field.field_name])
            return {"type": "array", "items": inner} if field.many else inner
        if isinstance(field, fields.Nested):
            inner = self._nested(field)
            return {"type": "array", "items": inner} if field.many else inner
        if isinstance(field, fields.List):
            return {"type": "array", "items": self.field_schema(field.inner)}
        if isinstance(field, fields.Tuple):
            items = [self.field_schema(inner) for inner in field.tuple_fields]
            return {
                "type": "array",
                "prefixItems": items,
                "items": False,
                "minItems": len(items),
                "maxItems": len(items),
            }
        if isinstance(field, fields.Mapping):
            result: dict[str, Any] = {"type": "object"}
            if field.value_field is not None:
                result["additionalProperties"] = self.field_schema(field.value_field)
            if field.key_field is not None:
                keys = self.field_schema(field.key_field)
                keys.pop("type", None)  # keys are strings in JSON anyway
                if keys:
                    result["propertyNames"] = keys
            return result
        if isinstance(field, fields.Enum):
            if field.by_value:
                return {"enum": [_json_value(field.field, member.value) for member in field.enum]}
            return {"type": "string", "enum": [member.name for member in field.enum]}
        if isinstance(field, fields.Constant):
            return {"const": field.constant}
        return _scalar_schema(field)


def _scalar_schema(field: fields.Field[Any]) -> dict[str, Any]:
    if isinstance(field, fields.Email):
        return {"type": "string", "format": "email"}
    if isinstance(field, fields.Url):
        return {"type": "string", "format": "uri-reference" if field.relative else "uri"}
    if isinstance(field, fields.UUID):
        return {"type": "string", "format": "uuid"}
    if isinstance(field, fields.String):
        return {"type": "string"}
    if isinstance(field, fields.Decimal):
        # Refused at registration unless as_string=True: exact decimals travel as text.
        return {"type": "string", "pattern": _DECIMAL_PATTERN}
    if isinstance(field, fields.Integer):
        return {"type": "integer"}
    if isinstance(field, fields.Number):  # Float and Number
        return {"type": "number"}
    if isinstance(field, fields.Boolean):
        return {"type": "boolean"}
    if isinstance(field, fields.NaiveDateTime):
        return _datetime_schema(field, {"type": "string", "pattern": _NAIVE_DATETIME_PATTERN})
    if isinstance(field, fields.DateTime | fields.AwareDateTime):
        return _datetime_schema(field, {"type": "string", "format": "date-time"})
    if isinstance(field, fields.Date):
        return {"type": "string", "format": "date"}
    if isinstance(field, fields.Time):
        return {"type": "string", "pattern": _TIME_PATTERN}
    if isinstance(field, fields.TimeDelta):
        return {"type": "number", "description": f"a duration in {field.precision}"}
    if isinstance(field, fields.IPv4 | fields.IPv6):
        return {"type": "string", "format": "ipv4" if isinstance(field, fields.IPv4) else "ipv6"}
    if isinstance(field, fields.IP):
        return {"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}
    if isinstance(field, fields.IPInterface):
        return {"type": "string"}
    if type(field) in (fields.Raw, fields.Field):
        return {}
    return {
        "description": f"a {type(field).__name__} field, which this converter cannot describe: "
        "any JSON value is shown as valid here"
    }


def _datetime_schema(field: fields.DateTime, iso: dict[str, Any]) -> dict[str, Any]:
    form = field.format or "iso"
    if form in ("iso", "iso8601"):
        return iso
    if form in ("timestamp", "timestamp_ms"):
        return {"type": "number"}
    return {"type": "string", "description": f"a date-time in the format {form!r}"}


def _apply_validator(result: dict[str, Any], validator: Any, field: fields.Field[Any]) -> None:
    kind = result.get("type")
    if isinstance(validator, validate.Range):
        for bound, inclusive, keyword, exclusive in (
            (validator.min, validator.min_inclusive, "minimum", "exclusiveMinimum"),
            (validator.max, validator.max_inclusive, "maximum", "exclusiveMaximum"),
        ):
            if bound is not None and isinstance(bound, int | float):
                result[keyword if inclusive else exclusive] = bound
    elif isinstance(validator, validate.Length):
        words = {
            "array": ("minItems", "maxItems"),
            "object": ("minProperties", "maxProperties"),
        }.get(str(kind), ("minLength", "maxLength"))
        low = validator.equal if validator.equal is not None else validator.min
        high = validator.equal if validator.equal is not None else validator.max
        if low is not None:
            result[words[0]] = low
        if high is not None:
            result[words[1]] = high
    elif isinstance(validator, validate.OneOf):
        values = [_json_value(field, choice) for choice in validator.choices]
        result["enum"] = [value for value in values if value is not marshmallow.missing]
    elif isinstance(validator, validate.Equal):
        value = _json_value(field, validator.comparable)
        if value is not marshmallow.missing:
            result["const"] = value
    elif isinstance(validator, validate.Regexp):
        result["pattern"] = validator.regex.pattern
    # Other validators (functions, ContainsOnly...) are checked by the worker only.


def _nullable(result: dict[str, Any]) -> dict[str, Any]:
    kind = result.get("type")
    if "enum" in result:
        result["enum"] = [*result["enum"], None]
        if isinstance(kind, str):
            result["type"] = [kind, "null"]
        return result
    if isinstance(kind, str) and "const" not in result and "anyOf" not in result:
        result["type"] = [kind, "null"]
        return result
    if not result:  # any value, null included
        return result
    return {"anyOf": [result, {"type": "null"}]}


def _json_value(field: fields.Field[Any], value: Any) -> Any:
    """``value`` as the field dumps it, if JSON can carry that; else ``missing``."""
    try:
        dumped = field.serialize("value", {"value": value})
        json.dumps(dumped, allow_nan=False)
    except (TypeError, ValueError, AttributeError, marshmallow.ValidationError):
        return marshmallow.missing
    return dumped


def schema_file_name(job_name: str) -> str:
    """``<job name>.json``, safe as a file name (job names may hold ``:``)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", job_name) + ".json"
