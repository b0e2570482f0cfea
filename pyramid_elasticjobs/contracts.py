"""What a job's schema may contain, so that its arguments survive the trip through SQS.

``enqueue`` sends ``schema.dump(schema.load(arguments))`` and the worker calls
``job(ctx, **schema.load(message_arguments))``. A schema whose dump the worker cannot
load again would accept every enqueue and then fail every attempt, so such schemas are
refused when the job is registered, with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import marshmallow
from marshmallow import fields

#: Schema hooks that change what is sent or what the job receives, so a dump can no longer
#: be loaded into the same keyword arguments (``pre_load`` runs on both sides, and is fine).
_BROKEN_HOOKS = {
    "post_load": "it runs again on the worker and its result must stay the dict of fields the "
    "job takes as keyword arguments; build objects inside the job instead",
    "pre_dump": "it changes what is sent, so the worker loads something else than was checked",
    "post_dump": "it changes what is sent, so the worker loads something else than was checked",
}


def contract_problems(schema: marshmallow.Schema) -> list[str]:
    """Why ``schema``'s dumped arguments would not load on the worker (empty when they do)."""
    if schema.many:
        return ["the schema has many=True; a job's schema loads one mapping of arguments"]
    return list(_schema_problems(schema, "", set()))


def _schema_problems(schema: marshmallow.Schema, path: str, seen: set[type]) -> Iterator[str]:
    # By class: a self-referencing Nested(lambda: Tree()) makes a new instance on each look.
    if type(schema) in seen:
        return
    seen.add(type(schema))
    where = f"nested schema at {path!r}" if path else "the schema"
    if schema.unknown == marshmallow.INCLUDE:
        yield (
            f"{where} has unknown=INCLUDE: unknown keys are accepted but never sent; "
            "declare the fields, or use EXCLUDE to drop them"
        )
    for hook, reason in _BROKEN_HOOKS.items():
        for method_name, _, _ in schema._hooks.get(hook, ()):
            yield f"{where} has a @{hook} hook ({method_name}): {reason}"
    for name, field in schema.fields.items():
        yield from _field_problems(field, f"{path}.{name}" if path else name, seen)


def _field_problems(field: fields.Field[Any], path: str, seen: set[type]) -> Iterator[str]:
    if field.load_only:
        yield (
            f"field {path!r} is load_only: enqueue sends the schema's dump, which leaves it out, "
            "so every attempt would fail; remove load_only"
        )
    if field.dump_only:
        yield (
            f"field {path!r} is dump_only: the worker's load would refuse it as unknown; "
            "remove it from the job's schema"
        )
    if field.dump_default is not marshmallow.missing:
        yield (
            f"field {path!r} has a dump_default: the worker would receive a value that enqueue "
            "never validated; use load_default instead"
        )
    if isinstance(field, fields.Decimal) and not field.as_string:
        yield (
            f"field {path!r} is a Decimal, which JSON cannot carry exactly; "
            "use fields.Decimal(as_string=True)"
        )
    for inner_path, inner in _inner_fields(field, path):
        yield from _field_problems(inner, inner_path, seen)
    if isinstance(field, fields.Nested) and isinstance(field.schema, marshmallow.Schema):
        yield from _schema_problems(field.schema, path, seen)


def _inner_fields(field: fields.Field[Any], path: str) -> Iterator[tuple[str, fields.Field[Any]]]:
    if isinstance(field, fields.List):
        yield f"{path}[]", field.inner
    elif isinstance(field, fields.Tuple):
        for index, inner in enumerate(field.tuple_fields):
            yield f"{path}[{index}]", inner
    elif isinstance(field, fields.Mapping):  # Dict and the like: keys and values
        for mapped in (field.key_field, field.value_field):
            if mapped is not None:
                yield f"{path}{{}}", mapped
