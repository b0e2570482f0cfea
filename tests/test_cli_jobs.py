"""``elasticjobs jobs``: the catalogue, JSON Schemas real envelopes satisfy, contract checks."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from marshmallow import EXCLUDE, Schema, fields, validate
from pyramid.paster import get_app

from pyramid_elasticjobs import get_client
from pyramid_elasticjobs.catalogue import args_schema
from pyramid_elasticjobs.cli import main
from pyramid_elasticjobs.compat import Breaks, Kind, compare
from pyramid_elasticjobs.envelope import Envelope
from pyramid_elasticjobs.jobs import make_definition

from .cli_support import CONTRACT_VERSION, Colour, base_settings, run_cli, write_ini
from .support import receive


@pytest.fixture
def ini(tmp_path: Path, sqs_endpoint: str, queue_prefix: str) -> Path:
    return write_ini(tmp_path, base_settings(sqs_endpoint, queue_prefix))


def test_help_describes_the_modes(capsys: pytest.CaptureFixture[str]) -> None:
    """--help names --json, --json-schema, --check-compat and the exit statuses."""
    with pytest.raises(SystemExit) as exited:
        main(["jobs", "--help"])

    text = capsys.readouterr().out
    assert exited.value.code == 0
    for expected in (
        "--json-schema",
        "--check-compat",
        "OLD MESSAGES",
        "OLD WORKERS",
        "Exit status",
    ):
        assert expected in text


def test_the_catalogue_is_an_aligned_table(
    ini: Path, queue_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """One row per job: queue with its SQS name, options and argument contract."""
    assert main(["jobs", str(ini)]) == 0

    rows = capsys.readouterr().out.splitlines()
    header, body = rows[0], rows[1:]
    assert header.split() == ["JOB", "QUEUE", "OPTIONS", "ARGUMENTS"]
    by_name = {row.split()[0]: row for row in body}
    assert f"images ({queue_prefix}images)" in by_name["resize_image"]
    assert "image_id: integer (required); width: integer = 800" in by_name["resize_image"]
    assert "periodic" in by_name["nightly_report"]
    assert "discard_on=PermanentError" in by_name["vanish"]
    column = header.index("ARGUMENTS")
    assert all(row[column - 2 : column] == "  " for row in body)


def test_the_catalogue_as_json(ini: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--json lists every job with its options, for scripts."""
    assert main(["jobs", str(ini), "--json"]) == 0

    jobs = {job["name"]: job for job in json.loads(capsys.readouterr().out)["jobs"]}
    assert jobs["nightly_report"]["periodic"] is True
    assert jobs["vanish"]["discard_on"] == ["tests.sample_jobs.PermanentError"]
    assert jobs["resize_image"]["queue"] == "images"
    assert jobs["noop"]["arguments"] == []


def test_json_schema_writes_one_file_per_job(ini: Path, tmp_path: Path) -> None:
    """--json-schema DIR, run as the real command: DIR/<job>.json, each a valid 2020-12 schema."""
    folder = tmp_path / "schemas"

    result = run_cli("jobs", str(ini), "--json-schema", str(folder))

    assert result.returncode == 0, result.stderr
    files = sorted(path.name for path in folder.iterdir())
    assert "resize_image.json" in files
    assert "contract_job.json" in files
    for path in folder.iterdir():
        schema = json.loads(path.read_text(encoding="utf-8"))
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert path.name == f"{schema['title']}.json"


@pytest.fixture
def registry(ini: Path, make_queue: Any) -> Any:
    """The application of the ini file, with its queues in moto."""
    for name in ("default", "images", "contracts"):
        make_queue(name)
    return get_app(str(ini)).registry


CONTRACT_ARGUMENTS = [
    {"count": 1},
    {
        "count": 10,
        "ratio": 0.25,
        "price": "12.50",
        "name": "n" * 20,
        "code": "abc",
        "level": "high",
        "active": False,
        "when": datetime(2024, 5, 1, 23, 0, tzinfo=UTC),
        "day": date(2024, 5, 1),
        "at": time(23, 59, 1),
        "ident": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "email": "ops@example.org",
        "site": "https://example.org/a?b=c",
        "address": "::1",
        "tags": ["a", "b", "c"],
        "pair": (7, "seven"),
        "scores": {"x": 1, "y": 2},
        "home": {"street": "Main St", "zip": "12345"},
        "colour": Colour.GREEN,
        "shade": Colour.RED,
        "wait": timedelta(seconds=90),
        "anything": {"nested": [1, None, "x"]},
    },
    {"count": 5, "home": {"street": "x"}, "price": None, "address": "10.0.0.1", "pair": None},
]


@pytest.mark.parametrize("arguments", CONTRACT_ARGUMENTS, ids=["defaults", "every-field", "nulls"])
def test_real_envelopes_satisfy_the_printed_schema(
    registry: Any,
    sqs: Any,
    queue_prefix: str,
    capsys: pytest.CaptureFixture[str],
    ini: Path,
    arguments: dict[str, Any],
) -> None:
    """Args of envelopes enqueued into moto and received back validate against --json-schema."""
    assert main(["jobs", str(ini), "--json-schema"]) == 0
    schemas = json.loads(capsys.readouterr().out)["jobs"]
    enqueued = get_client(registry).enqueue("contract_job", **arguments)
    queue_url = sqs.get_queue_url(QueueName=f"{queue_prefix}contracts")["QueueUrl"]

    envelope = Envelope.from_json(receive(sqs, queue_url)["Body"].encode())

    assert envelope.job_id == enqueued.job_id
    validator = Draft202012Validator(
        schemas["contract_job"], format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    assert list(validator.iter_errors(envelope.arguments)) == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"count": 11}, "count"),  # over Range(max=10)
        ({"level": "medium"}, "level"),  # not OneOf
        ({"code": "ABC"}, "code"),  # Regexp
        ({"tags": ["a", "b", "c", "d"]}, "tags"),  # Length(max=3)
        ({"home": {"zip": "1"}}, "home"),  # nested required street
        ({"surprise": 1}, "surprise"),  # unknown field: the worker's schema raises
        ({"colour": "purple"}, "colour"),
    ],
)
def test_the_schema_refuses_what_the_worker_refuses(
    registry: Any, sqs: Any, queue_prefix: str, change: dict[str, Any], field: str
) -> None:
    """A real envelope's args, altered: the job's schema and the JSON Schema both refuse them."""
    from pyramid_elasticjobs.exceptions import InvalidJobArguments
    from pyramid_elasticjobs.runtime import get_runtime

    get_client(registry).enqueue("contract_job", **CONTRACT_ARGUMENTS[1])
    queue_url = sqs.get_queue_url(QueueName=f"{queue_prefix}contracts")["QueueUrl"]
    sent = Envelope.from_json(receive(sqs, queue_url)["Body"].encode()).arguments
    altered = {**sent, **change}
    definition = get_runtime(registry).jobs.get("contract_job")

    with pytest.raises(InvalidJobArguments) as refused:
        definition.load(altered)

    assert field in refused.value.errors
    validator = Draft202012Validator(
        args_schema(definition), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    assert list(validator.iter_errors(altered)) != []


# -- contract evolution -----------------------------------------------------------------------


def _schema(**declared: Any) -> dict[str, Any]:
    unknown = declared.pop("unknown", None)
    meta = {"Meta": type("Meta", (), {"unknown": unknown})} if unknown else {}
    schema_class = type("Args", (Schema,), {**declared, **meta})
    return args_schema(make_definition(lambda ctx: None, schema=schema_class, name="j"))


BASE = {"user_id": fields.Int(required=True), "note": fields.Str(load_default="")}


@pytest.mark.parametrize(
    ("new", "expected"),
    [
        (
            {**BASE, "priority": fields.Int(required=True)},
            {
                (Breaks.OLD_MESSAGES, Kind.NEW_REQUIRED_FIELD, "priority"),
                (Breaks.OLD_WORKERS, Kind.NEW_FIELD, "priority"),
            },
        ),
        (
            {"user_id": fields.Int(required=True), "note": fields.Str(required=True)},
            set(),  # note always had a default, so old messages always carry it
        ),
        (
            {"user_id": fields.Int(required=True)},
            {(Breaks.OLD_MESSAGES, Kind.REMOVED_FIELD, "note")},
        ),
        (
            {"user_id": fields.Int(required=True), "text": fields.Str(required=True)},
            {
                (Breaks.OLD_MESSAGES, Kind.RENAMED_FIELD, "note"),
                (Breaks.OLD_WORKERS, Kind.NEW_FIELD, "text"),
            },
        ),
        (
            {
                "user_id": fields.Int(required=True, validate=validate.Range(min=1)),
                "note": BASE["note"],
            },
            {(Breaks.OLD_MESSAGES, Kind.NARROWED_TYPE, "user_id")},
        ),
        (
            {"user_id": fields.Str(required=True), "note": BASE["note"]},
            {
                (Breaks.OLD_MESSAGES, Kind.NARROWED_TYPE, "user_id"),
                (Breaks.OLD_WORKERS, Kind.WIDENED_TYPE, "user_id"),
            },
        ),
        (
            {"user_id": fields.Float(required=True), "note": BASE["note"]},
            {(Breaks.OLD_WORKERS, Kind.WIDENED_TYPE, "user_id")},
        ),
        (
            {**BASE, "tag": fields.Str(load_default="x")},
            {(Breaks.OLD_WORKERS, Kind.NEW_FIELD, "tag")},
        ),
        (
            {**BASE, "tag": fields.Str(load_default="x"), "unknown": EXCLUDE},
            {(Breaks.OLD_WORKERS, Kind.NEW_FIELD, "tag")},  # the old schema still raises
        ),
        (
            {"user_id": fields.Int(load_default=0), "note": BASE["note"]},
            set(),  # no longer required, but it has a default: always sent
        ),
        (
            {
                "user_id": fields.Int(required=True),
                "note": fields.Str(load_default="", allow_none=True),
            },
            {(Breaks.OLD_WORKERS, Kind.WIDENED_TYPE, "note")},
        ),
        (
            {
                "user_id": fields.Int(required=True),
                "note": fields.Str(load_default="", validate=validate.Length(max=5)),
            },
            {(Breaks.OLD_MESSAGES, Kind.NARROWED_TYPE, "note")},
        ),
        (dict(BASE), set()),
    ],
    ids=[
        "new-required-field",
        "default-field-made-required",
        "removed-field",
        "renamed-field",
        "narrowed-range",
        "int-to-string",
        "int-to-float",
        "new-optional-field",
        "new-field-new-schema-excludes",
        "required-given-default",
        "allow-none-added",
        "max-length-added",
        "unchanged",
    ],
)
def test_contract_changes_are_classified(
    new: dict[str, Any], expected: set[tuple[Breaks, Kind, str]]
) -> None:
    """Each kind of change is reported as breaking old messages, old workers, or neither."""
    changes = compare("j", _schema(**BASE), _schema(**new))

    assert {(change.breaks, change.kind, change.path) for change in changes} == expected


def test_a_null_default_is_a_widened_type_for_old_workers() -> None:
    """load_default=None implies allow_none: null may now reach old workers, which refuse it."""
    new = {"user_id": fields.Int(load_default=None), "note": BASE["note"]}

    changes = compare("j", _schema(**BASE), _schema(**new))

    assert {(c.breaks, c.kind, c.path) for c in changes} == {
        (Breaks.OLD_WORKERS, Kind.WIDENED_TYPE, "user_id")
    }


def test_nested_changes_name_their_path() -> None:
    """A field added inside a nested schema is reported at its dotted path."""

    class Old(Schema):
        street = fields.Str(required=True)

    class New(Schema):
        street = fields.Str(required=True)
        number = fields.Int(required=True)

    changes = compare(
        "j",
        _schema(home=fields.Nested(Old, required=True)),
        _schema(home=fields.Nested(New, required=True)),
    )

    assert {(c.breaks, c.kind, c.path) for c in changes} == {
        (Breaks.OLD_MESSAGES, Kind.NEW_REQUIRED_FIELD, "home.number"),
        (Breaks.OLD_WORKERS, Kind.NEW_FIELD, "home.number"),
    }


def test_check_compat_against_a_snapshot_of_the_previous_deploy(
    tmp_path: Path, sqs_endpoint: str, queue_prefix: str
) -> None:
    """Snapshot v1 with --json-schema, deploy v2 (a new required field): exit 1 naming it."""
    settings = base_settings(sqs_endpoint, queue_prefix)
    old_ini = write_ini(tmp_path, {**settings, CONTRACT_VERSION: "1"}, name="old.ini")
    new_ini = write_ini(tmp_path, {**settings, CONTRACT_VERSION: "2"}, name="new.ini")
    snapshot = tmp_path / "contracts.json"
    written = run_cli("jobs", str(old_ini), "--json-schema")
    assert written.returncode == 0, written.stderr
    snapshot.write_text(written.stdout, encoding="utf-8")

    same = run_cli("jobs", str(old_ini), "--check-compat", str(snapshot))
    changed = run_cli("jobs", str(new_ini), "--check-compat", str(snapshot), "--json")

    assert same.returncode == 0, same.stdout + same.stderr
    assert "nothing breaks" in same.stdout
    assert changed.returncode == 1, changed.stderr
    changes = json.loads(changed.stdout)["changes"]
    assert [(c["job"], c["breaks"], c["kind"], c["path"]) for c in changes] == [
        ("evolving", "old messages", "new required field", "priority"),
        ("evolving", "old workers", "new field", "priority"),
    ]
    assert "give it a load_default" in changes[0]["detail"]


def test_check_compat_reads_a_schema_folder_and_reports_a_removed_job(
    tmp_path: Path, ini: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder from --json-schema DIR works as the snapshot; a job gone from the code fails."""
    folder = tmp_path / "schemas"
    assert main(["jobs", str(ini), "--json-schema", str(folder)]) == 0
    (folder / "retired.json").write_text(
        json.dumps({"title": "retired", "type": "object", "properties": {}}), encoding="utf-8"
    )
    capsys.readouterr()

    status = main(["jobs", str(ini), "--check-compat", str(folder)])

    output = capsys.readouterr().out
    assert status == 1
    assert "retired" in output
    assert "job removed" in output
    assert "no deploy order helps" in output


@pytest.mark.parametrize(
    ("content", "expected"),
    [("not json", "is not JSON"), ('{"jobs": {}}', "is not a snapshot written by")],
)
def test_a_bad_snapshot_is_a_usage_error(
    tmp_path: Path, ini: Path, capsys: pytest.CaptureFixture[str], content: str, expected: str
) -> None:
    """Exit status 2 with what to give instead."""
    snapshot = tmp_path / "snapshot.json"
    snapshot.write_text(content, encoding="utf-8")

    status = main(["jobs", str(ini), "--check-compat", str(snapshot)])

    assert status == 2
    assert expected in capsys.readouterr().err


def test_decimal_amounts_keep_their_digits(registry: Any, sqs: Any, queue_prefix: str) -> None:
    """A Decimal travels as text matching the schema's pattern, digits intact."""
    get_client(registry).enqueue("contract_job", count=1, price=Decimal("0.10"))
    queue_url = sqs.get_queue_url(QueueName=f"{queue_prefix}contracts")["QueueUrl"]

    arguments = Envelope.from_json(receive(sqs, queue_url)["Body"].encode()).arguments

    assert arguments["price"] == "0.10"
