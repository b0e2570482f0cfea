"""``elasticjobs jobs``: the catalogue of registered jobs, their JSON Schemas, contract changes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyramid_elasticjobs.catalogue import (
    SNAPSHOT_KEY,
    args_schema,
    catalogue,
    contracts_document,
    schema_file_name,
)
from pyramid_elasticjobs.compat import Breaks, Change, compare_documents
from pyramid_elasticjobs.runtime import get_runtime

from .app import CONFIG_HELP, CommandError, fail, format_table, loaded_app, setup_logging

if TYPE_CHECKING:
    from pyramid_elasticjobs.runtime import Runtime

_DESCRIPTION = """\
List the jobs the application registers: name, queue (and its SQS name), periodic,
unique, redacted fields, discard_on exceptions and the argument contract.

--json-schema prints one JSON Schema (draft 2020-12) per job for the "args" of its
envelopes, so that producers in other languages can publish valid jobs; with DIR it
writes DIR/<job>.json instead. Keep the printed document (or the folder) as a
snapshot of the contracts: --check-compat SNAPSHOT compares the registered
contracts with it and reports, per job, the changes that break OLD MESSAGES
(already queued, read by the new worker: a new required field without a default, a
removed or renamed field, a narrowed type) and those that break OLD WORKERS (sent
by new code to a worker not yet deployed: a new field an old schema refuses, a
widened type). docs/deployment.md, "Changing a job's contract", says in which order
to deploy each kind.

Exit status: 0, 1 when --check-compat finds a breaking change, 2 for a usage error.
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "jobs",
        help="list registered jobs; print their JSON Schemas; check contract changes",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("config_uri", metavar="INI", help=CONFIG_HELP)
    parser.add_argument(
        "--json", action="store_true", help="print the catalogue (or the changes) as JSON"
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--json-schema",
        nargs="?",
        const="-",
        metavar="DIR",
        help="print every job's args schema as one JSON document, or write DIR/<job>.json",
    )
    mode.add_argument(
        "--check-compat",
        metavar="SNAPSHOT",
        help="compare the contracts with a snapshot written by --json-schema (file or DIR)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        setup_logging(args.config_uri)
        with loaded_app(args.config_uri) as registry:
            runtime = get_runtime(registry)
            if args.check_compat:
                return _check_compat(runtime, Path(args.check_compat), as_json=args.json)
            if args.json_schema:
                return _json_schema(runtime, args.json_schema)
            _catalogue(runtime, as_json=args.json)
    except CommandError as error:
        return fail("jobs", error.message, error.status)
    return 0


def _catalogue(runtime: Runtime, *, as_json: bool) -> None:
    entries = catalogue(runtime.jobs, runtime.settings)
    if as_json:
        print(json.dumps({"jobs": [entry.to_dict() for entry in entries]}, indent=2))
        return
    if not entries:
        print("no jobs registered (declare them with @job and config.scan())")
        return
    rows = []
    for entry in entries:
        options = [
            name for name, on in (("periodic", entry.periodic), ("unique", entry.unique)) if on
        ]
        if entry.redact:
            options.append("redact=" + ",".join(entry.redact))
        if entry.discard_on:
            options.append("discard_on=" + ",".join(e.rpartition(".")[2] for e in entry.discard_on))
        rows.append(
            (
                entry.name,
                f"{entry.queue} ({entry.sqs_queue})"
                if entry.sqs_queue != entry.queue
                else entry.queue,
                " ".join(options) or "-",
                "; ".join(entry.arguments) or "no arguments",
            )
        )
    print(format_table(("JOB", "QUEUE", "OPTIONS", "ARGUMENTS"), rows))


def _json_schema(runtime: Runtime, target: str) -> int:
    if target == "-":
        print(json.dumps(contracts_document(runtime.jobs), indent=2))
        return 0
    folder = Path(target)
    if folder.exists() and not folder.is_dir():
        raise CommandError(f"{target!r} is a file; give a folder for --json-schema DIR")
    folder.mkdir(parents=True, exist_ok=True)
    for definition in sorted(runtime.jobs, key=lambda item: item.name):
        path = folder / schema_file_name(definition.name)
        path.write_text(json.dumps(args_schema(definition), indent=2) + "\n", encoding="utf-8")
        print(path)
    return 0


def read_snapshot(path: Path) -> dict[str, Any]:
    """``{job name: args schema}`` from a --json-schema document, or from its folder."""
    if path.is_dir():
        snapshot = {}
        for file in sorted(path.glob("*.json")):
            schema = _read_json(file)
            if not isinstance(schema, dict) or not isinstance(schema.get("title"), str):
                raise CommandError(
                    f"{str(file)!r} is not a job schema written by --json-schema DIR (it has "
                    "no title naming the job)"
                )
            snapshot[schema["title"]] = schema
        if not snapshot:
            raise CommandError(
                f"{str(path)!r} holds no *.json schemas; write it with --json-schema DIR"
            )
        return snapshot
    document = _read_json(path)
    if not isinstance(document, dict) or SNAPSHOT_KEY not in document:
        raise CommandError(
            f"{str(path)!r} is not a snapshot written by `elasticjobs jobs INI --json-schema`; "
            "write one from the code that is deployed now, and keep it"
        )
    jobs = document.get("jobs")
    if not isinstance(jobs, dict):
        raise CommandError(f"{str(path)!r}: 'jobs' must map job names to schemas")
    return jobs


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise CommandError(f"cannot read {str(path)!r}: {error.strerror or error}") from None
    except ValueError as error:
        raise CommandError(f"{str(path)!r} is not JSON: {error}") from None


def _check_compat(runtime: Runtime, snapshot_path: Path, *, as_json: bool) -> int:
    old = read_snapshot(snapshot_path)
    new = contracts_document(runtime.jobs)["jobs"]
    changes = compare_documents(old, new)
    if as_json:
        print(json.dumps({"changes": [change.to_dict() for change in changes]}, indent=2))
    else:
        print(_compat_report(changes, old, new))
    return 1 if changes else 0


def _compat_report(changes: list[Change], old: dict[str, Any], new: dict[str, Any]) -> str:
    if not changes:
        added = sorted(set(new) - set(old))
        suffix = f" (new jobs: {', '.join(added)})" if added else ""
        return f"compatible: {len(old)} job contract(s) compared, nothing breaks{suffix}"
    rows = [
        (change.job, change.breaks.value, change.kind.value, change.detail) for change in changes
    ]
    advice = []
    if any(change.breaks is Breaks.OLD_WORKERS for change in changes):
        advice.append("breaks old workers: deploy the worker environment first, then the web one")
    if any(change.breaks is Breaks.OLD_MESSAGES for change in changes):
        advice.append(
            "breaks old messages: no deploy order helps; make the change in two deploys "
            '(see docs/deployment.md, "Changing a job\'s contract")'
        )
    return "\n".join([format_table(("JOB", "BREAKS", "CHANGE", "DETAIL"), rows), *advice])
