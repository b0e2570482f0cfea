"""Bulk actions on the failures page's selection: retry (enqueue again) and discard.

Both walk the selection in keyset pages, act on at most ``limit`` jobs per request (the
page offers to go on), and record each job's change with the operator who asked. A retried
or discarded job leaves the failures list, so asking again continues where the last
request stopped instead of acting twice.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pyramid_elasticjobs import get_client
from pyramid_elasticjobs.audit.models import JobState
from pyramid_elasticjobs.audit.queries import FAILED_STATES, AuditQueries, Cursor, JobFilter
from pyramid_elasticjobs.exceptions import EnqueueError, InvalidJobArguments, UnknownJobError
from pyramid_elasticjobs.jobs import REDACTED

if TYPE_CHECKING:
    from pyramid.registry import Registry

    from pyramid_elasticjobs.audit.models import JobRecord
    from pyramid_elasticjobs.audit.store import AuditStore

#: Jobs one request acts on at most: a request must end while the operator waits for it.
MAX_BULK = 500
#: Rows read per keyset page of the selection.
PAGE_SIZE = 100
#: Only jobs SQS has given up on are retried: a "failed" job is still being retried by SQS,
#: so enqueueing it again would run it twice.
RETRY_STATES = (JobState.DEAD.value, JobState.REJECTED.value)


@dataclass(frozen=True, slots=True)
class NotDone:
    """A job of the selection left as it was, and why."""

    job_id: str
    name: str
    reason: str


@dataclass(slots=True)
class BulkResult:
    """What a bulk action did: ``done`` jobs, ``skipped`` (refused), ``failed`` (tried)."""

    done: int = 0
    skipped: list[NotDone] = field(default_factory=list)
    failed: list[NotDone] = field(default_factory=list)
    more: bool = False  # the selection holds more than one request acts on

    def counts(self) -> dict[str, str]:
        """The result as query parameters, for the page the browser is sent back to."""
        return {
            "done": str(self.done),
            "skipped": str(len(self.skipped)),
            "failed": str(len(self.failed)),
            **({"more": "1"} if self.more else {}),
        }


def retry_refusal(job: JobRecord) -> str | None:
    """Why this job cannot be enqueued again as recorded, or None if it can."""
    if job.state not in RETRY_STATES:
        return "SQS is still retrying it"
    if job.arguments is None:
        return "its arguments were not recorded (a job this application does not declare)"
    if REDACTED in job.arguments.values():
        return "some of its arguments are redacted in the audit log"
    return None


def retry(
    registry: Registry,
    queries: AuditQueries,
    store: AuditStore,
    filters: JobFilter,
    states: Sequence[str],
    *,
    actor: str,
    limit: int = MAX_BULK,
) -> BulkResult:
    """Enqueue the selected dead and rejected jobs again with their recorded arguments.

    Each new job is a job of its own; the original is marked ``retried`` with a link to it.
    Jobs whose arguments are redacted or not recorded are skipped; a job whose arguments
    no longer pass its schema, or whose name is no longer registered, is listed as failed.
    Stops at the first SQS failure: the next jobs would fail alike.
    """
    result = BulkResult()
    client = get_client(registry)
    wanted = [state for state in states if state in RETRY_STATES]
    for job in _selection(queries, filters, wanted, limit, result):
        refusal = retry_refusal(job)
        if refusal is not None:
            result.skipped.append(NotDone(job.job_id, job.name, refusal))
            continue
        try:
            enqueued = client.enqueue(job.name, **(job.arguments or {}))
        except (InvalidJobArguments, UnknownJobError) as error:
            result.failed.append(NotDone(job.job_id, job.name, str(error)))
            continue
        except EnqueueError as error:
            result.failed.append(NotDone(job.job_id, job.name, str(error)))
            break
        detail = {"new_job_id": enqueued.job_id, "new_message_id": enqueued.message_id}
        store.jobs_marked(
            [job.job_id],
            state=JobState.RETRIED,
            from_states=RETRY_STATES,
            actor=actor,
            action="retried",
            details={job.job_id: detail},
        )
        result.done += 1
    return result


def discard(
    queries: AuditQueries,
    store: AuditStore,
    filters: JobFilter,
    states: Sequence[str],
    *,
    actor: str,
    limit: int = MAX_BULK,
) -> BulkResult:
    """Mark the selected jobs discarded in the audit log (SQS is not touched: a dead
    letter stays in its queue until redriven or deleted there)."""
    result = BulkResult()
    wanted = [state for state in states if state in FAILED_STATES]
    batch: list[str] = []
    for job in _selection(queries, filters, wanted, limit, result):
        batch.append(job.job_id)
        if len(batch) == PAGE_SIZE:
            result.done += len(_discard(store, batch, actor))
            batch = []
    if batch:
        result.done += len(_discard(store, batch, actor))
    return result


def _discard(store: AuditStore, job_ids: Sequence[str], actor: str) -> list[str]:
    return store.jobs_marked(
        job_ids,
        state=JobState.DISCARDED,
        from_states=FAILED_STATES,
        actor=actor,
        action="discarded",
    )


def _selection(
    queries: AuditQueries,
    filters: JobFilter,
    states: Sequence[str],
    limit: int,
    result: BulkResult,
) -> Iterator[JobRecord]:
    """The selection's jobs, newest first, at most ``limit``; sets ``result.more``."""
    if not states:
        return
    cursor: Cursor | None = None
    count = 0
    while True:
        page = queries.failing_jobs(filters, states, cursor, PAGE_SIZE)
        for job in page.jobs:
            if count == limit:
                result.more = True
                return
            count += 1
            yield job
        if page.next_cursor is None:
            return
        cursor = page.next_cursor
