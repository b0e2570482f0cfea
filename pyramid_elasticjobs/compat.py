"""Contract evolution: which changes to a job's arguments break messages or workers.

Two kinds of code read a job's arguments across a deploy. Messages already in a queue
(and its dead-letter queue) were written under the OLD contract and are read by the
NEW worker; a web environment deployed before its worker sends NEW messages to the
OLD worker. Either mismatch answers 422 until the message is dead-lettered.

Both questions are one: which values does the producer's schema allow that the
consumer's refuses? :func:`refusals` answers it over the JSON Schemas that
:mod:`pyramid_elasticjobs.catalogue` writes; :func:`compare` asks it both ways.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class Breaks(enum.StrEnum):
    """Who cannot read what after the change."""

    OLD_MESSAGES = "old messages"  # messages written before, read by the new worker
    OLD_WORKERS = "old workers"  # messages written by the new code, read by an old worker


class Kind(enum.StrEnum):
    """What changed."""

    NEW_REQUIRED_FIELD = "new required field"
    BECAME_REQUIRED = "became required"
    REMOVED_FIELD = "removed field"
    RENAMED_FIELD = "renamed field"
    NEW_FIELD = "new field"
    NARROWED_TYPE = "narrowed type"
    WIDENED_TYPE = "widened type"
    NO_LONGER_SENT = "no longer sent"
    JOB_REMOVED = "job removed"


@dataclass(frozen=True, slots=True)
class Change:
    """One incompatible change of one job's contract, and who it breaks."""

    job: str
    breaks: Breaks
    kind: Kind
    path: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {
            "job": self.job,
            "breaks": self.breaks.value,
            "kind": self.kind.value,
            "path": self.path,
            "detail": self.detail,
        }


def compare_documents(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Every incompatible change between two ``{job name: args schema}`` mappings.

    A job that is new has no old messages and no old workers: nothing breaks. A job
    that is gone leaves its old messages without a worker.
    """
    changes: list[Change] = []
    for name in sorted(old):
        if name not in new:
            changes.append(
                Change(
                    name,
                    Breaks.OLD_MESSAGES,
                    Kind.JOB_REMOVED,
                    "",
                    "no job has this name any more: its queued and dead-lettered messages "
                    "will be refused (422 unknown_job)",
                )
            )
            continue
        changes.extend(compare(name, old[name], new[name]))
    return changes


def compare(job: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Changes that break old messages (new worker) and old workers (new messages)."""
    changes = [
        Change(job, Breaks.OLD_MESSAGES, kind, path, detail)
        for kind, path, detail in refusals(old, new)
    ]
    changes += [
        Change(job, Breaks.OLD_WORKERS, _as_seen_by_old_worker(kind), path, detail)
        for kind, path, detail in refusals(new, old)
    ]
    return _with_renames(changes)


Refusal = tuple[Kind, str, str]


def refusals(producer: Mapping[str, Any], consumer: Mapping[str, Any]) -> list[Refusal]:
    """How the consumer's schema refuses arguments the producer's schema allows."""
    return _Comparison(producer, consumer).values(producer, consumer, "")


def _as_seen_by_old_worker(kind: Kind) -> Kind:
    # refusals(new, old) speaks from the old schema's side: turn it round.
    return {
        Kind.NEW_REQUIRED_FIELD: Kind.NO_LONGER_SENT,  # the old worker requires a removed field
        Kind.BECAME_REQUIRED: Kind.NO_LONGER_SENT,  # ... or one the new code may leave out
        Kind.REMOVED_FIELD: Kind.NEW_FIELD,  # the old worker refuses a field it never had
        Kind.NARROWED_TYPE: Kind.WIDENED_TYPE,  # the new code sends what the old refuses
    }.get(kind, kind)


def _with_renames(changes: list[Change]) -> list[Change]:
    """One field removed and one required field added, in one change: probably a rename."""
    removed = {c.path: c for c in changes if c.kind is Kind.REMOVED_FIELD}
    added = {c.path: c for c in changes if c.kind is Kind.NEW_REQUIRED_FIELD}
    result = []
    for change in changes:
        if change.kind is Kind.REMOVED_FIELD and len(removed) == len(added) == 1:
            [new_path] = added
            result.append(
                Change(
                    change.job,
                    change.breaks,
                    Kind.RENAMED_FIELD,
                    change.path,
                    f"renamed to {new_path!r}? old messages carry {change.path!r}, which the "
                    f"new schema refuses, and lack {new_path!r}, which it requires",
                )
            )
        elif change.kind is Kind.NEW_REQUIRED_FIELD and len(removed) == len(added) == 1:
            continue  # reported with the rename
        else:
            result.append(change)
    return result


class _Comparison:
    """Walks two schemas side by side; ``$ref`` resolves within each side's own document."""

    def __init__(self, producer_root: Mapping[str, Any], consumer_root: Mapping[str, Any]):
        self.roots = (producer_root, consumer_root)
        self._seen: set[tuple[str, str, str]] = set()

    def _resolve(self, side: int, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        ref = schema.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#/$defs/"):
            return schema
        resolved = self.roots[side].get("$defs", {}).get(ref.removeprefix("#/$defs/"), {})
        return resolved if isinstance(resolved, Mapping) else {}

    def values(
        self, producer: Mapping[str, Any], consumer: Mapping[str, Any], path: str
    ) -> list[Refusal]:
        if not consumer:  # the empty schema accepts every value
            return []
        refs = (str(producer.get("$ref", "")), str(consumer.get("$ref", "")))
        if refs != ("", ""):
            if (path, *refs) in self._seen:  # a recursive schema, already compared here
                return []
            self._seen.add((path, *refs))
        producer, consumer = self._resolve(0, producer), self._resolve(1, consumer)
        producer, producer_null = _split_null(producer)
        consumer, consumer_null = _split_null(consumer)
        where = path or "the arguments"
        problems: list[Refusal] = []
        if producer_null and not consumer_null:
            problems.append((Kind.NARROWED_TYPE, path, f"{where}: null is no longer accepted"))
        problems += _type_refusals(producer, consumer, where, path)
        if problems:
            return problems  # deeper differences follow from the type change
        problems += _value_refusals(producer, consumer, where, path)
        if _types(producer) & _types(consumer) & {"object"}:
            problems += self._objects(producer, consumer, path)
        if _types(producer) & _types(consumer) & {"array"}:
            problems += self._arrays(producer, consumer, path)
        return problems

    def _objects(
        self, producer: Mapping[str, Any], consumer: Mapping[str, Any], path: str
    ) -> list[Refusal]:
        sent = producer.get("properties", {})
        accepted = consumer.get("properties", {})
        always_sent = {
            name
            for name, schema in sent.items()
            if name in producer.get("required", ()) or "default" in schema
        }
        problems: list[Refusal] = []
        for name in consumer.get("required", ()):
            field_path = _join(path, name)
            if name not in sent:
                problems.append(
                    (
                        Kind.NEW_REQUIRED_FIELD,
                        field_path,
                        f"{field_path!r} is required and has no default, but was never sent; "
                        "give it a load_default",
                    )
                )
            elif name not in always_sent:
                problems.append(
                    (
                        Kind.BECAME_REQUIRED,
                        field_path,
                        f"{field_path!r} is required, but may be missing from what was sent "
                        "(it was optional, without a default)",
                    )
                )
        extra = consumer.get("additionalProperties", True)
        for name, schema in sent.items():
            field_path = _join(path, name)
            if name in accepted:
                problems += self.values(schema, accepted[name], field_path)
            elif extra is False:
                problems.append(
                    (
                        Kind.REMOVED_FIELD,
                        field_path,
                        f"{field_path!r} is sent but unknown to the schema reading it, which "
                        "refuses unknown fields (unknown=RAISE)",
                    )
                )
            elif isinstance(extra, Mapping):
                problems += self.values(schema, extra, field_path)
        sent_extra = producer.get("additionalProperties", True)
        if isinstance(sent_extra, Mapping) and sent_extra and isinstance(extra, Mapping):
            problems += self.values(sent_extra, extra, _join(path, "*"))
        elif sent_extra is not False and extra is False and not sent:
            problems.append(
                (Kind.NARROWED_TYPE, path, f"{path or 'the arguments'}: any key was accepted")
            )
        return problems

    def _arrays(
        self, producer: Mapping[str, Any], consumer: Mapping[str, Any], path: str
    ) -> list[Refusal]:
        problems: list[Refusal] = []
        sent_prefix = producer.get("prefixItems", [])
        accepted_prefix = consumer.get("prefixItems", [])
        for index, (sent, accepted) in enumerate(zip(sent_prefix, accepted_prefix, strict=False)):
            problems += self.values(sent, accepted, f"{path}[{index}]")
        sent_items, accepted_items = producer.get("items", {}), consumer.get("items", {})
        if isinstance(sent_items, Mapping) and isinstance(accepted_items, Mapping):
            problems += self.values(sent_items, accepted_items, f"{path}[]")
        elif sent_items is not False and accepted_items is False and not sent_prefix:
            problems.append((Kind.NARROWED_TYPE, path, f"{path}: items are no longer accepted"))
        return problems


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _split_null(schema: Mapping[str, Any]) -> tuple[Mapping[str, Any], bool]:
    """(the schema without null, whether it allows null)."""
    options = schema.get("anyOf")
    if isinstance(options, list) and {"type": "null"} in options and len(options) == 2:
        [other] = [option for option in options if option != {"type": "null"}]
        return other, True
    kind = schema.get("type")
    result = dict(schema)
    nullable = not _types(schema) or "null" in _types(schema)
    if isinstance(kind, list) and "null" in kind:
        rest = [item for item in kind if item != "null"]
        result["type"] = rest[0] if len(rest) == 1 else rest
    if "enum" in result and None in result["enum"]:
        result["enum"] = [value for value in result["enum"] if value is not None]
        nullable = True
    return result, nullable


_ALL_TYPES = frozenset({"string", "number", "integer", "boolean", "object", "array", "null"})


def _types(schema: Mapping[str, Any]) -> frozenset[str]:
    """The JSON types a schema allows (every type when it names none)."""
    if "const" in schema:
        return frozenset({_json_type(schema["const"])})
    if "enum" in schema and "type" not in schema:
        return frozenset(_json_type(value) for value in schema["enum"])
    kind = schema.get("type")
    if kind is None:
        return _ALL_TYPES
    kinds = frozenset([kind] if isinstance(kind, str) else kind)
    return kinds | {"integer"} if "number" in kinds else kinds


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _type_refusals(
    producer: Mapping[str, Any], consumer: Mapping[str, Any], where: str, path: str
) -> list[Refusal]:
    lost = _types(producer) - _types(consumer) - {"null"}
    if not lost:
        return []
    was, now = _type_name(producer), _type_name(consumer)
    return [(Kind.NARROWED_TYPE, path, f"{where}: was {was}, now {now}")]


def _type_name(schema: Mapping[str, Any]) -> str:
    kinds = sorted(_types(schema) - {"null"})
    if set(kinds) >= _ALL_TYPES - {"null"}:
        return "any value"
    if "number" in kinds:
        kinds.remove("integer")
    return " or ".join(kinds)


#: (keyword, how a stricter consumer bound compares) for the numeric limits.
_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")


def _value_refusals(
    producer: Mapping[str, Any], consumer: Mapping[str, Any], where: str, path: str
) -> list[Refusal]:
    problems: list[Refusal] = []

    def narrowed(text: str) -> None:
        problems.append((Kind.NARROWED_TYPE, path, f"{where}: {text}"))

    if "const" in consumer and producer.get("const", object()) != consumer["const"]:
        narrowed(f"only {json.dumps(consumer['const'])} is accepted now")
    if "enum" in consumer:
        accepted = consumer["enum"]
        if "enum" in producer or "const" in producer:
            sent = producer.get("enum", [producer.get("const")])
            lost = [value for value in sent if value not in accepted]
            if lost:
                narrowed(f"no longer accepts {', '.join(json.dumps(v) for v in lost)}")
        else:
            narrowed(f"now limited to {', '.join(json.dumps(v) for v in accepted)}")
    for keyword in _LOWER_BOUNDS:
        if keyword in consumer and not _at_most(producer, keyword, consumer[keyword], lower=True):
            narrowed(f"{keyword} is now {consumer[keyword]} (was {producer.get(keyword, 'none')})")
    for keyword in _UPPER_BOUNDS:
        if keyword in consumer and not _at_most(producer, keyword, consumer[keyword], lower=False):
            narrowed(f"{keyword} is now {consumer[keyword]} (was {producer.get(keyword, 'none')})")
    for keyword in ("pattern", "format"):
        if keyword in consumer and producer.get(keyword) != consumer[keyword]:
            narrowed(
                f"{keyword} is now {consumer[keyword]!r} (was {producer.get(keyword, 'none')!r})"
            )
    return problems


def _at_most(producer: Mapping[str, Any], keyword: str, bound: Any, *, lower: bool) -> bool:
    """True if the producer was already at least as strict as ``keyword: bound``."""
    inclusive, exclusive = (
        ("minimum", "exclusiveMinimum") if lower else ("maximum", "exclusiveMaximum")
    )
    if keyword in (inclusive, exclusive):
        # Compare with whichever bound of the same side the producer had.
        for own in (keyword, inclusive if keyword == exclusive else exclusive):
            value = producer.get(own)
            if isinstance(value, int | float) and isinstance(bound, int | float):
                stricter_or_equal = value >= bound if lower else value <= bound
                if value == bound:
                    # exclusive is stricter than inclusive at the same number
                    return own == exclusive or keyword == inclusive
                return stricter_or_equal
        return False
    value = producer.get(keyword)
    if not isinstance(value, int) or not isinstance(bound, int):
        return False
    return value >= bound if lower else value <= bound
