"""Dead letters: every dead-letter queue, a sample of one decoded and joined to the audit
log's last error, and the actions on them (redrive, delete, edit, purge, move tasks).

Pages only receive from dead-letter queues, briefly, and release what they received (the
service refuses any other queue). Every action goes through the dead-letter service, which
records it with the operator's name; after it the browser is sent back to the same
filtered page with what happened.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyramid.httpexceptions import HTTPNotFound

from pyramid_elasticjobs.deadletters import (
    DeadLetterError,
    DeadLetterNotFound,
    DeadLetterQueue,
    DeadLetterSQSError,
    Match,
    NotADeadLetterQueue,
    NotRedrivable,
    PurgeNotConfirmed,
    RedriveResult,
    Throttle,
    Verdict,
)
from pyramid_elasticjobs.envelope import Envelope
from pyramid_elasticjobs.exceptions import EnvelopeError, InvalidJobArguments, UnknownJobError
from pyramid_elasticjobs.runtime import get_runtime

from ..filters import MAX_FIELD
from ..rendering import render
from .common import actor, queries, see_other
from .queues import service, settings_of, summary

if TYPE_CHECKING:
    from pyramid.request import Request
    from pyramid.response import Response

log = logging.getLogger(__name__)

VERDICTS = tuple(verdict.value for verdict in Verdict)
#: Counts an action's redirect carries back to the page.
RESULT_KEYS = ("redriven", "skipped", "failed", "not_found", "scanned", "total", "more", "moved")
#: Message ids listed back after a redrive (skipped and failed), at most.
LISTED_IDS = 20
#: An edited job's arguments, as JSON text, at most (SQS's own limit is 256 KiB to 1 MiB).
MAX_ARGUMENTS_TEXT = 256 * 1024


@dataclass(frozen=True, slots=True)
class LetterFilter:
    """The dead letters shown and acted on: by job name and by verdict."""

    job: str | None = None
    verdict: Verdict | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> LetterFilter:
        job = params.get("job", "").strip()
        verdict = params.get("verdict", "")
        return cls(
            job if job and len(job) <= MAX_FIELD else None,
            Verdict(verdict) if verdict in VERDICTS else None,
        )

    @property
    def query(self) -> dict[str, str]:
        values = {"job": self.job, "verdict": self.verdict.value if self.verdict else None}
        return {key: value for key, value in values.items() if value}

    @property
    def match(self) -> Match:
        return Match(
            job_names=frozenset({self.job}) if self.job else None,
            verdicts=frozenset({self.verdict}) if self.verdict else None,
        )


# -- pages ----------------------------------------------------------------------------


def dead_letters(request: Request) -> Response:
    """Every job queue with its dead-letter queue, counts and oldest dead letter."""
    return render(
        request,
        "dead_letters.jinja2",
        summary=summary(request, oldest=True, tasks=True),
    )


def dead_letter_queue(request: Request) -> Response:
    """A sample of one dead-letter queue, decoded, each joined to its job's last error."""
    dead = service(request)
    queue = _queue(request)
    chosen = LetterFilter.from_params(request.GET)
    try:
        taken = dead.sample(queue, settings_of(request).sample_size)
    except DeadLetterSQSError as error:
        raise HTTPNotFound(str(error)) from error
    letters = [letter for letter in taken.letters if chosen.match(letter)]
    known = queries(request).jobs_by_id([letter.job_id for letter in letters if letter.job_id])
    try:
        tasks = dead.move_tasks(queue)
    except DeadLetterError as error:
        log.warning("cannot list the move tasks of %s: %s", queue.name, error)
        tasks = None
    return render(
        request,
        "dead_letter_queue.jinja2",
        queue=queue,
        sample=taken,
        letters=[(letter, known.get(letter.job_id or "")) for letter in letters],
        job_names=sorted({letter.job_name for letter in taken.letters if letter.job_name}),
        chosen=chosen,
        verdicts=VERDICTS,
        move_tasks=tasks,
        actions=queries(request).actions(queue=queue.name),
        notice=request.GET.get("notice"),
        result=_numbers(request.GET, RESULT_KEYS),
        listed={
            "skipped": request.GET.getall("skipped_id")[:LISTED_IDS],
            "failed": request.GET.getall("failed_id")[:LISTED_IDS],
        },
        rate=settings_of(request).redrive_rate,
        batch=settings_of(request).redrive_batch,
    )


def edit_form(request: Request, errors: Mapping[str, Any] | None = None) -> Response:
    """The form to fix a dead job's arguments, filled from its snapshot in the audit log
    (sensitive fields stay redacted: left as they are, they keep their original value)."""
    queue_name = request.matchdict["queue"]
    message_id = _field(request.params, "message_id")
    snapshot = queries(request).dead_letter(queue_name, message_id) if message_id else None
    if snapshot is None:
        raise HTTPNotFound("no such dead letter in the audit log: sample its queue first")
    try:
        envelope = Envelope.from_json(snapshot.body.encode())
    except EnvelopeError as error:
        raise HTTPNotFound("this dead letter is not a job: it cannot be edited") from error
    try:
        definition = get_runtime(request.registry).jobs.get(envelope.name)
    except UnknownJobError as error:
        raise HTTPNotFound(str(error)) from error
    text = request.POST.get("arguments") if errors is not None else None
    return render(
        request,
        "dead_letter_edit.jinja2",
        status=400 if errors is not None else 200,
        queue_name=queue_name,
        snapshot=snapshot,
        envelope=envelope,
        fields=[
            (name, type(field).__name__, field.required, name in definition.redact)
            for name, field in definition.schema.fields.items()
            if not field.dump_only
        ],
        arguments_text=text
        if text is not None
        else json.dumps(envelope.arguments, indent=2, sort_keys=True, ensure_ascii=False),
        errors=errors or {},
        chosen=LetterFilter.from_params(request.params),
    )


# -- actions --------------------------------------------------------------------------


def _answers_failures(action: Callable[[Request], Response]) -> Callable[[Request], Response]:
    """A failed service call sends the operator back to the page saying so (cause logged)."""

    @functools.wraps(action)
    def act(request: Request) -> Response:
        try:
            return action(request)
        except DeadLetterNotFound:
            return _back(request, "not_found")
        except NotRedrivable:
            return _back(request, "not_redrivable")
        except PurgeNotConfirmed:
            return _back(request, "purge_not_confirmed")
        except DeadLetterError as error:
            log.warning("dead-letter action on %s failed: %s", request.matchdict["queue"], error)
            return _back(request, "sqs_error")

    return act


@_answers_failures
def redrive(request: Request) -> Response:
    """Redrive one or the selected messages (each validated against the current code)."""
    queue = _queue(request)
    message_ids = [mid for mid in request.POST.getall("message_id") if 0 < len(mid) <= 128]
    if not message_ids:
        return _back(request, "nothing_selected")
    result = service(request).redrive(queue, message_ids[: LISTED_IDS * 5], actor=actor(request))
    return _redriven(request, result)


@_answers_failures
def redrive_matching(request: Request) -> Response:
    """Redrive what the page's filter selects, throttled, one batch per request."""
    queue = _queue(request)
    settings = settings_of(request)
    result = service(request).redrive_matching(
        queue,
        LetterFilter.from_params(request.POST).match,
        actor=actor(request),
        limit=settings.redrive_batch,
        throttle=Throttle(settings.redrive_rate),
    )
    return _redriven(request, result, total=queue.attributes.visible, batch=settings.redrive_batch)


@_answers_failures
def redrive_all(request: Request) -> Response:
    """The whole queue: an SQS move task where SQS has them, else validated batches."""
    queue = _queue(request)
    dead = service(request)
    settings = settings_of(request)
    try:
        supported = dead.move_tasks(queue) is not None
    except DeadLetterError:
        supported = True  # SQS has move tasks but would not list them: let the start say why
    if supported:
        dead.redrive_all(queue, actor=actor(request), max_per_second=settings.redrive_rate)
        return _back(request, "move_started")
    # Our own redrive checks every message, so a batch per request, as for a filter.
    result = dead.redrive_matching(
        queue,
        Match(),
        actor=actor(request),
        limit=settings.redrive_batch,
        throttle=Throttle(settings.redrive_rate),
    )
    return _redriven(request, result, total=queue.attributes.visible, batch=settings.redrive_batch)


@_answers_failures
def cancel_move(request: Request) -> Response:
    queue = _queue(request)
    handle = _field(request.POST, "task_handle", limit=4096)
    if handle is None:
        return _back(request, "nothing_selected")
    moved = service(request).cancel_move_task(queue, handle, actor=actor(request))
    return _back(request, "move_cancelled", moved=str(moved))


@_answers_failures
def delete(request: Request) -> Response:
    queue = _queue(request)
    message_id = _field(request.POST, "message_id")
    if message_id is None:
        return _back(request, "nothing_selected")
    service(request).delete(queue, message_id, actor=actor(request))
    return _back(request, "deleted")


@_answers_failures
def purge(request: Request) -> Response:
    """Delete every message of the queue; the form asks for the queue's name, typed."""
    queue = _queue(request)
    service(request).purge(queue, confirm=request.POST.get("confirm", ""), actor=actor(request))
    return _back(request, "purged")


@_answers_failures
def edit(request: Request) -> Response:
    """Send the dead job again with fixed arguments (checked, signed anew), then delete it."""
    queue = _queue(request)
    message_id = _field(request.POST, "message_id")
    if message_id is None:
        return _back(request, "nothing_selected")
    text = request.POST.get("arguments", "")
    try:
        arguments = json.loads(text) if len(text) <= MAX_ARGUMENTS_TEXT else None
    except ValueError:
        arguments = None
    if not isinstance(arguments, dict):
        return edit_form(request, {"arguments": ["give the arguments as a JSON object"]})
    try:
        edited = service(request).edit_and_redrive(
            queue, message_id, arguments, actor=actor(request)
        )
    except InvalidJobArguments as error:
        return edit_form(request, error.errors)
    except UnknownJobError:
        return _back(request, "not_redrivable")
    return _back(request, "edited" if edited.deleted else "edited_kept")


ACTIONS: dict[str, Callable[[Request], Response]] = {
    "redrive": redrive,
    "redrive-matching": redrive_matching,
    "redrive-all": redrive_all,
    "cancel-move": cancel_move,
    "delete": delete,
    "purge": purge,
    "edit": edit,
}


# -- helpers --------------------------------------------------------------------------


def _queue(request: Request) -> DeadLetterQueue:
    """The dead-letter queue the URL names; 404 for a live queue or one SQS cannot find."""
    try:
        return service(request).dead_letter_queue(request.matchdict["queue"])
    except NotADeadLetterQueue as error:
        raise HTTPNotFound(str(error)) from error
    except DeadLetterError as error:
        raise HTTPNotFound(f"no dead-letter queue here: {error}") from error


def _redriven(
    request: Request, result: RedriveResult, *, total: int | None = None, batch: int | None = None
) -> Response:
    counts = {
        "redriven": str(len(result.redriven)),
        "skipped": str(len(result.skipped)),
        "failed": str(len(result.failed)),
        "not_found": str(len(result.not_found)),
        "scanned": str(result.scanned),
    }
    if total is not None:
        counts["total"] = str(total)
    if batch is not None and result.scanned >= batch:
        counts["more"] = "1"
    listed: dict[str, Any] = {
        "skipped_id": [item.message_id for item in result.skipped][:LISTED_IDS],
        "failed_id": [item.message_id for item in result.failed][:LISTED_IDS],
    }
    return _back(request, "redriven", **counts, **listed)


def _back(request: Request, notice: str, **extra: Any) -> Response:
    """To the queue's page with its filters (from the action's form) and what happened."""
    query: dict[str, Any] = {**LetterFilter.from_params(request.POST).query, **extra}
    return see_other(
        request, "dead_letter_queue", notice, queue=request.matchdict["queue"], _query=query
    )


def _field(params: Mapping[str, str], key: str, limit: int = 128) -> str | None:
    value = params.get(key, "").strip()
    return value if value and len(value) <= limit else None


def _numbers(params: Mapping[str, str], keys: tuple[str, ...]) -> dict[str, int]:
    """Counts from a redirect's query (numbers only: anyone can edit a URL)."""
    found = {}
    for key in keys:
        value = params.get(key, "")
        if value.isdigit() and len(value) < 10:
            found[key] = int(value)
    return found
