"""``elasticjobs dlq``: the dashboard's dead-letter operations, from a shell.

Everything goes through the dead-letter service, so the rules are the dashboard's: only
dead-letter queues are received from (briefly, and released again), redrive is
send-then-delete and checks each message against the running code first, a purge needs
the queue's name typed, and every action is recorded in the audit log when the
application has one, with ``cli:<user>@<host>`` as the operator.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import socket
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pyramid_elasticjobs.deadletters import (
    DeadLetter,
    DeadLetterError,
    DeadLetterQueue,
    DeadLetters,
    JobQueue,
    Match,
    MoveTask,
    NotADeadLetterQueue,
    Progress,
    PurgeNotConfirmed,
    RedriveResult,
    Throttle,
)
from pyramid_elasticjobs.deadletters.movetasks import MAX_MOVE_RATE
from pyramid_elasticjobs.deadletters.receiving import Holding
from pyramid_elasticjobs.deadletters.redrive import find
from pyramid_elasticjobs.deadletters.service import SAMPLE_VISIBILITY_SECONDS
from pyramid_elasticjobs.exceptions import InvalidJobArguments, UnknownJobError
from pyramid_elasticjobs.settings import PREFIX, audit_url, parse_queue_name

from .app import (
    CONFIG_HELP,
    CommandError,
    fail,
    format_table,
    loaded_app,
    setup_logging,
)
from .progress import progress_bar

if TYPE_CHECKING:
    from pyramid.registry import Registry

    from pyramid_elasticjobs.audit.store import AuditStore
    from pyramid_elasticjobs.jobs import JobDefinition
    from pyramid_elasticjobs.runtime import Runtime

_DESCRIPTION = """\
Look at and act on the dead-letter queues of the application's job queues, with the
dashboard's rules: only dead-letter queues are received from, briefly, and every
message not acted on is released again; a redrive sends a copy to the source queue and
deletes the original only once SQS confirmed the copy, and skips (and lists) messages
that would fail again: a bad signature, an unknown job, arguments the job's current
schema refuses, an expired job. Actions are recorded in the audit log when
elasticjobs.audit.url is set, with cli:<user>@<host> as the operator.

--queue takes a job queue's logical name (its dead-letter queue is meant) or a
dead-letter queue's SQS name; a live queue is refused.

"""
_EXIT_STATUS = """\
Exit status: 0 when nothing failed, 1 when something failed or was skipped (or a queue
cannot be read), 2 for a usage error.
"""

#: Messages sampled (and released at once) per dead-letter queue to find its oldest.
OLDEST_SAMPLE = 10
#: The most messages ``list --messages`` samples per dead-letter queue.
MAX_MESSAGES = 200
#: The dashboard's extra queues (those no registered job names) are listed here too.
DASHBOARD_QUEUES = f"{PREFIX}dashboard.queues"

Action = Callable[["Context", argparse.Namespace], int]


@dataclass(frozen=True, slots=True)
class Context:
    """What every subcommand works with: the service, and the audit log if there is one."""

    service: DeadLetters
    store: AuditStore | None

    @property
    def runtime(self) -> Runtime:
        return self.service.runtime


# -- arguments ----------------------------------------------------------------------------


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "dlq",
        help="list, show, redrive, delete or purge dead letters",
        description=_DESCRIPTION + _EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(
        dest="dlq_command", metavar="DLQ_COMMAND", required=True, parser_class=_IntermixedParser
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("config_uri", metavar="INI", help=CONFIG_HELP)
    common.add_argument("--json", action="store_true", help="print the result as JSON")
    common.add_argument(
        "--wait",
        type=_whole("--wait", 0, 20),
        default=1,
        metavar="SECONDS",
        help="each receive's long poll, 0-20 (default 1: above 0, SQS asks all its servers, "
        "not a sample of them)",
    )
    queue_help = "a job queue (its dead-letter queue is meant) or a dead-letter queue's SQS name"

    listing = commands.add_parser(
        "list",
        parents=[common],
        epilog=_EXIT_STATUS,
        help="each job queue and its dead-letter queue: counts, policy, oldest dead letter",
        description="Each job queue (the default queue, every registered job's, and "
        "elasticjobs.dashboard.queues) with its visible, in-flight and delayed counts and its "
        "redrive policy's maxReceiveCount; each dead-letter queue with its counts, retention "
        "and the oldest message of a sample (SQS has no attribute for the true oldest: that is "
        "CloudWatch's ApproximateAgeOfOldestMessage). With --messages N, N messages of each "
        "dead-letter queue, decoded (received and released at once).",
    )
    listing.add_argument("--queue", metavar="NAME", help=f"only this queue: {queue_help}")
    listing.add_argument(
        "--messages",
        type=_whole("--messages", 0, MAX_MESSAGES),
        default=0,
        metavar="N",
        help=f"also show a sample of N messages of each dead-letter queue (at most {MAX_MESSAGES})",
    )
    listing.set_defaults(run=run, action=_list)

    show = commands.add_parser(
        "show",
        parents=[common],
        epilog=_EXIT_STATUS,
        help="decode one dead letter: job, arguments, signature, errors, last error",
        description="Decode one message of a dead-letter queue: its job and job id, its "
        "arguments (fields the job redacts are hidden), whether its signature is valid, the "
        "argument errors against the job's current schema, and the job's last error from the "
        "audit log when there is one. The message is received and released at once.",
    )
    show.add_argument("--queue", metavar="NAME", required=True, help=queue_help)
    show.add_argument("message_id", metavar="MESSAGE_ID", help="the SQS message id")
    show.set_defaults(run=run, action=_show)

    redrive = commands.add_parser(
        "redrive",
        parents=[common],
        epilog=_EXIT_STATUS,
        help="send dead letters back to their source queues (checked first)",
        description="Send messages back to the queue they died in: the given MESSAGE_IDs, "
        "--all-matching (every message, or every message of --job NAME), or --all (an SQS "
        "message move task where SQS has them, which moves every message unchecked; elsewhere "
        "the same as --all-matching). Each message is checked against the running code first; "
        "those that would fail again are skipped and listed. A copy is sent, and the original "
        "deleted only once SQS confirmed it: a crash can duplicate a message, never lose one.",
    )
    redrive.add_argument("--queue", metavar="NAME", required=True, help=queue_help)
    redrive.add_argument("message_ids", metavar="MESSAGE_ID", nargs="*", help="SQS message ids")
    mode = redrive.add_mutually_exclusive_group()
    mode.add_argument(
        "--all-matching",
        action="store_true",
        help="every message that passes the checks (only those of --job NAME, if given)",
    )
    mode.add_argument(
        "--all",
        action="store_true",
        help="the whole queue: SQS's move task (unchecked) where SQS has one",
    )
    redrive.add_argument("--job", metavar="NAME", help="with --all-matching: only this job")
    redrive.add_argument(
        "--rate",
        type=_whole("--rate", 1, MAX_MOVE_RATE),
        metavar="N",
        help=f"send at most N messages a second, 1-{MAX_MOVE_RATE} (default: as fast as SQS "
        "takes them)",
    )
    redrive.set_defaults(run=run, action=_redrive)

    delete = commands.add_parser(
        "delete",
        parents=[common],
        epilog=_EXIT_STATUS,
        help="delete one dead letter for good",
        description="Delete one message of a dead-letter queue for good (it is found by "
        "receiving; the others are released again).",
    )
    delete.add_argument("--queue", metavar="NAME", required=True, help=queue_help)
    delete.add_argument("message_id", metavar="MESSAGE_ID", help="the SQS message id")
    delete.set_defaults(run=run, action=_delete)

    purge = commands.add_parser(
        "purge",
        parents=[common],
        epilog=_EXIT_STATUS,
        help="delete every message of a dead-letter queue (needs --confirm NAME)",
        description="Delete every message of a dead-letter queue for good. Refused unless "
        "--confirm repeats the dead-letter queue's SQS name exactly.",
    )
    purge.add_argument("--queue", metavar="NAME", required=True, help=queue_help)
    purge.add_argument(
        "--confirm",
        metavar="NAME",
        required=True,
        help="the dead-letter queue's SQS name, typed again",
    )
    purge.set_defaults(run=run, action=_purge)


class _IntermixedParser(argparse.ArgumentParser):
    """Positionals may follow options: ``redrive INI --queue Q ID1 ID2``.

    Plain argparse gives MESSAGE_ID... its (empty) share when it meets INI, and then
    refuses the ids after ``--queue`` as unrecognized.
    """

    _parsing = False

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        if self._parsing:  # parse_known_intermixed_args calls back here, twice
            return super().parse_known_args(args, namespace)
        self._parsing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._parsing = False


def _whole(option: str, lowest: int, highest: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = lowest - 1
        if not lowest <= value <= highest:
            raise argparse.ArgumentTypeError(
                f"{option} takes a whole number from {lowest} to {highest}, not {text!r}"
            )
        return value

    return parse


def _check_usage(args: argparse.Namespace) -> None:
    """What argparse cannot say: which of the redrive selections go together."""
    if args.dlq_command != "redrive":
        return
    modes = bool(args.message_ids) + args.all_matching + args.all
    if modes != 1:
        raise CommandError(
            "give the MESSAGE_IDs to redrive, or --all-matching [--job NAME], or --all "
            "(one of them)"
        )
    if args.job is not None and not args.all_matching:
        raise CommandError("--job selects among --all-matching: give --all-matching --job NAME")


# -- running ------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    name = f"dlq {args.dlq_command}"
    action: Action = args.action
    try:
        _check_usage(args)
        setup_logging(args.config_uri)
        with loaded_app(args.config_uri) as registry:
            return action(_context(registry, args.wait), args)
    except CommandError as error:
        return fail(name, error.message, error.status)
    except (NotADeadLetterQueue, PurgeNotConfirmed) as error:
        # The wrong queue or confirmation was given: nothing was tried.
        return fail(name, str(error), 2)
    except DeadLetterError as error:
        return fail(name, str(error), 1)


def _context(registry: Registry, wait: int) -> Context:
    store: AuditStore | None = None
    if audit_url(registry.settings, os.environ):
        # Only here: the audit log needs SQLAlchemy, which the other commands do without.
        from pyramid_elasticjobs.audit import get_audit_store

        store = get_audit_store(registry)
    service = DeadLetters(
        registry, store, extra_queues=_extra_queues(registry.settings), wait_seconds=wait
    )
    return Context(service, store)


def _extra_queues(settings: Mapping[str, Any]) -> tuple[str, ...]:
    """The dashboard's extra queues, so both list the same queues."""
    text = str(settings.get(DASHBOARD_QUEUES) or "")
    return tuple(
        parse_queue_name(DASHBOARD_QUEUES, name, "") for name in text.replace(",", " ").split()
    )


def actor() -> str:
    """Who acts, as the audit log records it: ``cli:<user>@<host>``."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (a bare container)
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return f"cli:{user}@{socket.gethostname()}"


# -- list ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Listed:
    """One dead-letter queue as ``list`` shows it."""

    queue: DeadLetterQueue
    letters: tuple[DeadLetter, ...]
    move_tasks: tuple[MoveTask, ...] | None


def _list(context: Context, args: argparse.Namespace) -> int:
    service = context.service
    job_queues = service.queues()
    if args.queue is not None:
        job_queues = [queue for queue in job_queues if _names(queue, args.queue)]
    problems = [f"queue {queue.name!r}: {queue.error}" for queue in job_queues if queue.error]
    dead_letter_queues: dict[str, DeadLetterQueue] = {}
    for job_queue in job_queues:
        if job_queue.dead_letters is not None:
            dead_letter_queues.setdefault(job_queue.dead_letters.name, job_queue.dead_letters)
    if args.queue is not None and not job_queues:
        # Not one of the app's queues: a dead-letter queue SQS knows (or a refusal).
        found = service.dead_letter_queue(args.queue)
        dead_letter_queues[found.name] = found
    listed = []
    for queue in dead_letter_queues.values():
        entry, trouble = _look(service, queue, args.messages)
        listed.append(entry)
        problems.extend(trouble)
    if args.json:
        print(json.dumps(_list_document(job_queues, listed, args.messages), indent=2))
    else:
        _print_list(job_queues, listed, args.messages)
    for problem in problems:
        print(f"elasticjobs dlq list: error: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _names(job_queue: JobQueue, name: str) -> bool:
    dead_letters = job_queue.dead_letters
    return name in (job_queue.queue, job_queue.name) or (
        dead_letters is not None and dead_letters.name == name
    )


def _look(service: DeadLetters, queue: DeadLetterQueue, messages: int) -> tuple[_Listed, list[str]]:
    """A sample of a non-empty queue (for its oldest, and ``messages`` of it) and its tasks."""
    problems = []
    letters: tuple[DeadLetter, ...] = ()
    if queue.attributes.visible:
        try:
            # Recorded only when shown, as the dashboard records the letters it shows.
            taken = service.sample(queue, max(OLDEST_SAMPLE, messages), record=messages > 0)
        except DeadLetterError as error:
            problems.append(f"cannot sample {queue.name!r}: {error}")
        else:
            queue = replace(queue, oldest=taken.oldest)
            letters = taken.letters[:messages]
    try:
        tasks = service.move_tasks(queue)
    except DeadLetterError as error:
        problems.append(f"cannot list the move tasks of {queue.name!r}: {error}")
        tasks = None
    return _Listed(queue, letters, tasks), problems


def _print_list(job_queues: Sequence[JobQueue], listed: Sequence[_Listed], messages: int) -> None:
    if job_queues:
        rows: list[tuple[str, ...]] = []
        for job_queue in job_queues:
            counts = job_queue.attributes
            rows.append(
                (
                    job_queue.queue,
                    job_queue.name,
                    *(
                        (str(counts.visible), str(counts.in_flight), str(counts.delayed))
                        if counts is not None
                        else ("-", "-", "-")
                    ),
                    str(job_queue.max_receive_count or "-"),
                    _dead_letter_column(job_queue),
                )
            )
        headers = ("QUEUE", "SQS QUEUE", "VISIBLE", "IN FLIGHT", "DELAYED", "MAX RECEIVES")
        print(format_table((*headers, "DEAD-LETTER QUEUE"), rows))
    if listed:
        if job_queues:
            print()
        dead_rows = [
            (
                entry.queue.name,
                str(entry.queue.attributes.visible),
                str(entry.queue.attributes.in_flight),
                str(entry.queue.attributes.delayed),
                _duration(entry.queue.attributes.retention_seconds),
                _oldest_column(entry.queue),
            )
            for entry in listed
        ]
        dead_headers = ("DEAD-LETTER QUEUE", "VISIBLE", "IN FLIGHT", "DELAYED", "RETENTION")
        print(format_table((*dead_headers, "OLDEST (OF A SAMPLE)"), dead_rows))
    for entry in listed:
        for task in entry.move_tasks or ():
            if task.running:
                of = f" of {task.to_move}" if task.to_move is not None else ""
                print(
                    f"move task running on {entry.queue.name}: {task.moved}{of} moved "
                    f"(cancel it with its handle {task.task_handle})"
                )
    if messages:
        for entry in listed:
            print()
            _print_letters(entry)


def _dead_letter_column(job_queue: JobQueue) -> str:
    if job_queue.error is not None:
        return "unreadable (see below)"
    if job_queue.dead_letters is None:
        return "none (no RedrivePolicy)"
    return job_queue.dead_letters.name


def _oldest_column(queue: DeadLetterQueue) -> str:
    oldest = queue.oldest
    if oldest is None:
        return "-" if not queue.attributes.visible else "none sampled"
    return (
        f"sent {_moment(oldest.sent_at)}, {_duration(oldest.age)} ago (oldest of "
        f"{oldest.sample_size} sampled); SQS deletes it {_moment(oldest.deadline)}"
    )


def _print_letters(entry: _Listed) -> None:
    if not entry.letters:
        print(f"{entry.queue.name}: no messages received")
        return
    print(
        f"{entry.queue.name}: {len(entry.letters)} of about {entry.queue.attributes.visible} "
        "messages, sampled and released again"
    )
    rows = [
        (
            letter.message_id,
            letter.job_name or "-",
            letter.verdict.value,
            _moment(letter.sent_at),
            str(letter.receive_count),
        )
        for letter in entry.letters
    ]
    print(format_table(("MESSAGE ID", "JOB", "VERDICT", "SENT", "RECEIVES"), rows))


def _list_document(
    job_queues: Sequence[JobQueue], listed: Sequence[_Listed], messages: int
) -> dict[str, Any]:
    queues = []
    for job_queue in job_queues:
        counts = job_queue.attributes
        queues.append(
            {
                "queue": job_queue.queue,
                "name": job_queue.name,
                "url": job_queue.url,
                "visible": counts.visible if counts else None,
                "in_flight": counts.in_flight if counts else None,
                "delayed": counts.delayed if counts else None,
                "max_receive_count": job_queue.max_receive_count,
                "dead_letter_queue": job_queue.dead_letters.name
                if job_queue.dead_letters
                else None,
                "error": job_queue.error,
            }
        )
    dead = []
    for entry in listed:
        queue = entry.queue
        oldest = queue.oldest
        document: dict[str, Any] = {
            "name": queue.name,
            "url": queue.url,
            "visible": queue.attributes.visible,
            "in_flight": queue.attributes.in_flight,
            "delayed": queue.attributes.delayed,
            "retention_seconds": queue.attributes.retention_seconds,
            "sources": [source.name for source in queue.sources],
            "oldest_sampled": None
            if oldest is None
            else {
                "sent_at": _iso(oldest.sent_at),
                "age_seconds": int(oldest.age.total_seconds()),
                "deleted_by_sqs_at": _iso(oldest.deadline),
                "sample_size": oldest.sample_size,
            },
            "move_tasks": None
            if entry.move_tasks is None
            else [_task_document(task) for task in entry.move_tasks],
        }
        if messages:
            document["messages"] = [_letter_summary(letter) for letter in entry.letters]
        dead.append(document)
    return {"queues": queues, "dead_letter_queues": dead}


def _task_document(task: MoveTask) -> dict[str, Any]:
    return {
        "status": task.status,
        "task_handle": task.task_handle,
        "moved": task.moved,
        "to_move": task.to_move,
        "max_per_second": task.max_per_second,
        "failure_reason": task.failure_reason,
        "started_at": _iso(task.started_at),
    }


def _letter_summary(letter: DeadLetter) -> dict[str, Any]:
    return {
        "message_id": letter.message_id,
        "job": letter.job_name,
        "job_id": letter.job_id,
        "verdict": letter.verdict.value,
        "sent_at": _iso(letter.sent_at),
        "receive_count": letter.receive_count,
    }


# -- show ---------------------------------------------------------------------------------


def _show(context: Context, args: argparse.Namespace) -> int:
    service = context.service
    queue = service.dead_letter_queue(args.queue)
    with Holding(
        service.runtime.transport.client,
        queue,
        visibility_timeout=SAMPLE_VISIBILITY_SECONDS,
        wait_seconds=service.wait_seconds,
    ) as holding:
        # Received to be read, then released with every other message the search took.
        _, letter = find(service.runtime, holding, args.message_id)
    document = {
        **_letter_summary(letter),
        "dead_letter_queue": letter.dead_letter_queue,
        "source_queue": letter.source_queue,
        "reason": letter.reason,
        "signature_valid": letter.signature_valid,
        "arguments": _redacted(context.runtime, letter),
        "argument_errors": _argument_errors(context.runtime, letter),
        "last_error": _last_error(context.store, letter.job_id),
    }
    if args.json:
        print(json.dumps(document, indent=2, default=str))
    else:
        _print_fields(_show_fields(document, context.store is not None))
    return 0


def _redacted(runtime: Runtime, letter: DeadLetter) -> dict[str, Any] | None:
    """The arguments with the job's redacted fields hidden, whatever the verdict.

    The decoder redacts only what it could check; a message signed with a retired
    secret may still carry real values, so the current definition redacts it too.
    """
    if letter.arguments is None:
        return None
    definition = _definition(runtime, letter.job_name)
    arguments = dict(letter.arguments)
    return definition.redacted(arguments) if definition is not None else arguments


def _argument_errors(runtime: Runtime, letter: DeadLetter) -> dict[str, Any] | None:
    """The arguments checked against the job's current schema; None if it cannot be."""
    definition = _definition(runtime, letter.job_name)
    if definition is None or letter.envelope is None:
        return None
    try:
        definition.load(letter.envelope.arguments)
    except InvalidJobArguments as error:
        return error.errors
    return {}


def _definition(runtime: Runtime, name: str | None) -> JobDefinition | None:
    if name is None:
        return None
    try:
        return runtime.jobs.get(name)
    except UnknownJobError:
        return None


def _last_error(store: AuditStore | None, job_id: str | None) -> dict[str, Any] | None:
    if store is None or job_id is None:
        return None
    from sqlalchemy.exc import SQLAlchemyError

    try:
        record = store.job(job_id)
    except SQLAlchemyError as error:
        # The message itself is what was asked for: show it, and say what is missing.
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(
            f"elasticjobs dlq show: warning: the audit log cannot be read ({first}); the last "
            "error is not shown: check elasticjobs.audit.url and that the database is up",
            file=sys.stderr,
        )
        return None
    if record is None:
        return None
    return {
        "state": record.state,
        "attempts": record.attempts,
        "error_class": record.last_error_class,
        "error": record.last_error,
    }


def _show_fields(document: Mapping[str, Any], audited: bool) -> list[tuple[str, str]]:
    verdict = document["verdict"]
    if document["reason"]:
        verdict = f"{verdict}: {_one_line(document['reason'])}"
    source = document["source_queue"] or "unknown"
    fields = [
        ("message id", document["message_id"]),
        ("queue", f"{document['dead_letter_queue']} (died in {source})"),
        ("job", document["job"] or "- (not a job envelope)"),
        ("job id", document["job_id"] or "-"),
        ("verdict", verdict),
        ("signature", "valid" if document["signature_valid"] else "INVALID"),
        (
            "sent",
            f"{_moment_text(document['sent_at'])}; receive count {document['receive_count']}",
        ),
        (
            "arguments",
            "-"
            if document["arguments"] is None
            else json.dumps(document["arguments"], sort_keys=True, default=str),
        ),
    ]
    errors = document["argument_errors"]
    if errors is None:
        fields.append(("argument errors", "- (unknown job: no schema to check against)"))
    else:
        fields.append(("argument errors", _flatten(errors) if errors else "none"))
    fields.append(("last error", _last_error_text(document["last_error"], audited)))
    return fields


def _last_error_text(last: Mapping[str, Any] | None, audited: bool) -> str:
    if not audited:
        return "- (no audit log: set elasticjobs.audit.url)"
    if last is None:
        return "- (the audit log has no record of this job)"
    if not last["error_class"]:
        return f"none recorded (job {last['state']}, {last['attempts']} attempt(s))"
    message = _one_line(last["error"] or "")
    return f"{last['error_class']}: {message} (job {last['state']}, {last['attempts']} attempt(s))"


def _print_fields(fields: Sequence[tuple[str, str]]) -> None:
    width = max(len(name) for name, _ in fields)
    for name, value in fields:
        print(f"{name.ljust(width)}  {value}")


# -- redrive ------------------------------------------------------------------------------


def _redrive(context: Context, args: argparse.Namespace) -> int:
    service = context.service
    queue = service.dead_letter_queue(args.queue)
    who = actor()
    throttle = Throttle(args.rate) if args.rate is not None else None
    task_handle: str | None = None
    with progress_bar(f"redriving {queue.name}") as update:

        def progress(done: Progress) -> None:
            update(done.scanned, done.total)

        if args.all:
            outcome = service.redrive_all(
                queue, actor=who, max_per_second=args.rate, progress=progress
            )
            task_handle, result = outcome.task_handle, outcome.fallback
        elif args.all_matching:
            match = Match(job_names=frozenset({args.job}) if args.job is not None else None)
            result = service.redrive_matching(
                queue, match, actor=who, throttle=throttle, progress=progress
            )
        else:
            result = service.redrive(
                queue, args.message_ids, actor=who, throttle=throttle, progress=progress
            )
    if result is None:
        return _move_started(queue, task_handle, args)
    if args.json:
        print(json.dumps(_redrive_document(queue, result), indent=2))
    else:
        _print_redrive(queue, result)
    troubles = result.skipped or result.failed or result.not_found
    return 1 if troubles or any(not item.deleted for item in result.redriven) else 0


def _move_started(queue: DeadLetterQueue, task_handle: str | None, args: argparse.Namespace) -> int:
    if args.json:
        document = {"queue": queue.name, "move_task": task_handle, "max_per_second": args.rate}
        print(json.dumps(document, indent=2))
        return 0
    rate = f" at most {args.rate} a second" if args.rate else ""
    print(
        f"SQS is moving every message of {queue.name} back to its source queues{rate} "
        f"(move task {task_handle}); a move task does not check messages. Follow it with "
        "`elasticjobs dlq list INI`"
    )
    return 0


def _redrive_rows(result: RedriveResult) -> list[tuple[str, str, str, str]]:
    rows = []
    for redriven in result.redriven:
        detail = f"to {redriven.source_queue} as {redriven.new_message_id}"
        if not redriven.deleted:
            detail += "; the original could not be deleted: delete it, or it runs twice"
        rows.append((redriven.message_id, redriven.job_name or "-", "redriven", detail))
    for outcome, items in (("skipped", result.skipped), ("failed", result.failed)):
        for item in items:
            rows.append((item.message_id, item.job_name or "-", outcome, _one_line(item.reason)))
    for message_id in result.not_found:
        rows.append((message_id, "-", "not found", "redriven or deleted already, or held"))
    return rows


def _print_redrive(queue: DeadLetterQueue, result: RedriveResult) -> None:
    rows = _redrive_rows(result)
    if rows:
        print(format_table(("MESSAGE ID", "JOB", "OUTCOME", "DETAIL"), rows))
    print(
        f"{queue.name}: {len(result.redriven)} redriven, {len(result.skipped)} skipped, "
        f"{len(result.failed)} failed, {len(result.not_found)} not found "
        f"({result.scanned} messages looked at)"
    )
    if result.skipped:
        print(
            "skipped messages would fail again: fix the cause and redrive them, or delete them "
            "(elasticjobs dlq delete)"
        )
    if result.failed or result.not_found:
        print("run the same command again for the messages that failed or were not found")


def _redrive_document(queue: DeadLetterQueue, result: RedriveResult) -> dict[str, Any]:
    return {
        "queue": queue.name,
        "move_task": None,
        "scanned": result.scanned,
        "redriven": [
            {
                "message_id": item.message_id,
                "job": item.job_name,
                "job_id": item.job_id,
                "source_queue": item.source_queue,
                "new_message_id": item.new_message_id,
                "original_deleted": item.deleted,
            }
            for item in result.redriven
        ],
        "skipped": [_not_redriven(item) for item in result.skipped],
        "failed": [_not_redriven(item) for item in result.failed],
        "not_found": list(result.not_found),
    }


def _not_redriven(item: Any) -> dict[str, Any]:
    return {
        "message_id": item.message_id,
        "job": item.job_name,
        "verdict": item.verdict.value if item.verdict is not None else None,
        "reason": item.reason,
    }


# -- delete and purge ---------------------------------------------------------------------


def _delete(context: Context, args: argparse.Namespace) -> int:
    service = context.service
    queue = service.dead_letter_queue(args.queue)
    letter = service.delete(queue, args.message_id, actor=actor())
    if args.json:
        print(json.dumps({"queue": queue.name, "deleted": _letter_summary(letter)}, indent=2))
    else:
        print(
            f"deleted message {letter.message_id} ({letter.job_name or 'not a job'}, "
            f"{letter.verdict.value}) from {queue.name} for good"
        )
    return 0


def _purge(context: Context, args: argparse.Namespace) -> int:
    service = context.service
    queue = service.dead_letter_queue(args.queue)
    if args.confirm != queue.name:
        # The service refuses too; this says which option to give.
        raise CommandError(
            f"refused: purging {queue.name!r} deletes every message in it for good; give "
            f"--confirm {queue.name} (the dead-letter queue's SQS name exactly, not "
            f"{args.confirm!r})"
        )
    service.purge(queue, confirm=args.confirm, actor=actor())
    depth = queue.attributes.visible
    if args.json:
        print(json.dumps({"queue": queue.name, "purged": True, "approximate_messages": depth}))
    else:
        print(f"purged {queue.name}: about {depth} message(s) deleted for good")
    return 0


# -- formatting ---------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment is not None else None


def _moment(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "-"


def _moment_text(iso: str | None) -> str:
    return _moment(datetime.fromisoformat(iso)) if iso else "-"


def _duration(value: timedelta | int) -> str:
    """``4d``, ``2h 5m``, ``40s``: the two largest units."""
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else value)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return " ".join(parts[:2]) or "0s"


def _one_line(text: str) -> str:
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def _flatten(errors: Mapping[str, Any] | Iterable[Any] | Any) -> str:
    if isinstance(errors, Mapping):
        return "; ".join(f"{key}: {_flatten(value)}" for key, value in errors.items())
    if isinstance(errors, list | tuple):
        return " ".join(_flatten(item) for item in errors)
    return str(errors)
