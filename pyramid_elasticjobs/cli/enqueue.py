"""``elasticjobs enqueue``: validate, sign and send one job, as the application would."""

from __future__ import annotations

import argparse
import json
from typing import Any

from pyramid_elasticjobs import get_client
from pyramid_elasticjobs.exceptions import (
    EnqueueError,
    InvalidJobArguments,
    UnknownJobError,
)

from .app import CONFIG_HELP, CommandError, fail, loaded_app, setup_logging

_DESCRIPTION = """\
Enqueue one job of the application: the arguments (a JSON object) are checked
against the job's schema, then the job is signed with elasticjobs.secret and sent
to its queue (or --queue), exactly as get_client(registry).enqueue() does. Prints
the job id and SQS's message id.

Exit status: 0 when SQS confirmed the message, 1 when the arguments are invalid
(each field's errors are printed) or SQS refused it, 2 for a usage error.
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "enqueue",
        help="validate, sign and send one job",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("config_uri", metavar="INI", help=CONFIG_HELP)
    parser.add_argument("job", metavar="JOB", help="the job's registered name")
    parser.add_argument(
        "--args",
        dest="arguments",
        default="{}",
        metavar="JSON",
        help="the job's arguments as a JSON object, e.g. '{\"image_id\": 5}' (default: {})",
    )
    parser.add_argument(
        "--delay",
        type=float,
        metavar="SECONDS",
        help="run it after this many seconds (beyond 900 the worker re-sends it until due)",
    )
    parser.add_argument(
        "--queue",
        metavar="QUEUE",
        help="send to this logical queue instead of the job's own (prefix is added)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(run=run)


def _arguments(text: str) -> dict[str, Any]:
    try:
        arguments = json.loads(text)
    except ValueError as error:
        raise CommandError(
            f"--args is not JSON ({error}); give an object such as '{{\"k\": 1}}'"
        ) from None
    if not isinstance(arguments, dict):
        raise CommandError(
            f"--args must be a JSON object of the job's arguments, not {type(arguments).__name__}"
        )
    return arguments


def run(args: argparse.Namespace) -> int:
    try:
        arguments = _arguments(args.arguments)
        setup_logging(args.config_uri)
        with loaded_app(args.config_uri) as registry:
            return _enqueue(registry, args, arguments)
    except CommandError as error:
        return fail("enqueue", error.message, error.status)


def _enqueue(registry: Any, args: argparse.Namespace, arguments: dict[str, Any]) -> int:
    from pyramid_elasticjobs.runtime import get_runtime

    runtime = get_runtime(registry)
    try:
        definition = runtime.jobs.get(args.job)
    except UnknownJobError as error:
        raise CommandError(str(error)) from None
    if args.queue is not None:
        # The job's own definition, sent elsewhere: a copy, the registry stays untouched.
        from dataclasses import replace

        definition = replace(definition, queue=args.queue)
    try:
        job = get_client(registry).enqueue(definition, delay=args.delay, **arguments)
    except InvalidJobArguments as error:
        if args.json:
            print(json.dumps({"job": args.job, "errors": error.errors}, indent=2))
        else:
            print(f"elasticjobs enqueue: invalid arguments for job {args.job!r}:")
            for field, problems in error.errors.items():
                print(f"  {field}: {_flatten(problems)}")
        return 1
    except EnqueueError as error:
        return fail("enqueue", str(error), 1)
    except TypeError as error:  # an argument named like an enqueue option of another type
        raise CommandError(f"--args: {error}") from None
    result = {
        "job": job.name,
        "job_id": job.job_id,
        "message_id": job.message_id,
        "queue": job.queue,
        "sqs_queue": runtime.settings.sqs_queue_name(job.queue),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"enqueued {job.name} on {result['sqs_queue']}: job id {job.job_id}, "
            f"message id {job.message_id}"
        )
    return 0


def _flatten(problems: Any) -> str:
    if isinstance(problems, list):
        return "; ".join(_flatten(problem) for problem in problems)
    if isinstance(problems, dict):
        return "; ".join(f"{key}: {_flatten(value)}" for key, value in problems.items())
    return str(problems)
