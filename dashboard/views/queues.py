"""What SQS says about the job queues and their dead-letter queues, for the overview, the
dead letters and the health page; always through the dead-letter service, never boto3."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pyramid_elasticjobs.audit import get_audit_store
from pyramid_elasticjobs.deadletters import DeadLetterError, DeadLetterQueue, DeadLetters

if TYPE_CHECKING:
    from pyramid.request import Request

    from pyramid_elasticjobs.deadletters import JobQueue, MoveTask

    from ..settings import DashboardSettings

#: Messages sampled (and released at once) per dead-letter queue to find its oldest.
OLDEST_SAMPLE = 10
#: aws-sqsd's defaults for the options a queue must agree with (``elasticjobs.sqsd.*``
#: says what the worker environment sets instead).
DAEMON_INACTIVITY_TIMEOUT = 299
DAEMON_MAX_RETRIES = 10


@dataclass(frozen=True, slots=True)
class QueueSummary:
    """The job queues, their dead-letter queues (each once) and the move tasks running."""

    job_queues: list[JobQueue] = field(default_factory=list)
    dead_letter_queues: list[DeadLetterQueue] = field(default_factory=list)
    #: Running move tasks by dead-letter queue name.
    move_tasks: dict[str, list[MoveTask]] = field(default_factory=dict)
    #: Problems met on the way (a queue that cannot be sampled), one line each.
    problems: list[str] = field(default_factory=list)


def settings_of(request: Request) -> DashboardSettings:
    settings: DashboardSettings = request.registry["elasticjobs.dashboard.context"].settings
    return settings


def service(request: Request) -> DeadLetters:
    """The dead-letter service, recording into the audit log with the dashboard's queues."""
    settings = settings_of(request)
    return DeadLetters(
        request.registry,
        recorder=get_audit_store(request.registry),
        extra_queues=settings.queues,
        wait_seconds=settings.receive_wait_seconds,
    )


def summary(request: Request, *, oldest: bool, tasks: bool) -> QueueSummary:
    """Each queue's counts; with ``oldest``, the oldest of a sample of each non-empty
    dead-letter queue (released at once, not recorded); with ``tasks``, running moves."""
    dead_letters = service(request)
    result = QueueSummary(job_queues=dead_letters.queues())
    seen: dict[str, DeadLetterQueue] = {}
    for job_queue in result.job_queues:
        queue = job_queue.dead_letters
        if queue is None or queue.name in seen:
            continue
        if oldest and queue.attributes.visible:
            try:
                queue = replace(
                    queue, oldest=dead_letters.sample(queue, OLDEST_SAMPLE, record=False).oldest
                )
            except DeadLetterError as error:
                result.problems.append(str(error))
        seen[queue.name] = queue
        if tasks:
            try:
                found = dead_letters.move_tasks(queue)
            except DeadLetterError as error:
                result.problems.append(str(error))
                found = None
            running = [task for task in found or () if task.running]
            if running:
                result.move_tasks[queue.name] = running
    result.dead_letter_queues.extend(seen.values())
    return result


def live_numbers(summary: QueueSummary) -> list[dict[str, Any]]:
    """Each job queue's counts and its dead-letter queue's, in page order (the live JSON)."""
    rows = []
    for job_queue in summary.job_queues:
        row: dict[str, Any] = {}
        if job_queue.attributes is not None:
            row.update(_counts("", job_queue.attributes))
        if job_queue.dead_letters is not None:
            row.update(_counts("dlq_", job_queue.dead_letters.attributes))
        rows.append(row)
    return rows


def _counts(prefix: str, attributes: Any) -> dict[str, int]:
    return {
        prefix + "visible": attributes.visible,
        prefix + "in_flight": attributes.in_flight,
        prefix + "delayed": attributes.delayed,
    }


@dataclass(frozen=True, slots=True)
class QueueHealth:
    """One job queue's settings checked against its dead-letter queue and the daemon."""

    queue: JobQueue
    findings: list[tuple[bool, str]]  # (fine, what was found)


def queue_health(summary: QueueSummary, settings: Mapping[str, Any]) -> list[QueueHealth]:
    """Redrive policy and maxReceiveCount, retention of the dead-letter queue against its
    source's, and the visibility timeout against the daemon's inactivity timeout."""
    inactivity = _number(settings, "elasticjobs.sqsd.inactivity_timeout", DAEMON_INACTIVITY_TIMEOUT)
    max_retries = _number(settings, "elasticjobs.sqsd.max_retries", DAEMON_MAX_RETRIES)
    checked = []
    for job_queue in summary.job_queues:
        findings: list[tuple[bool, str]] = []
        attributes = job_queue.attributes
        if job_queue.error is not None or attributes is None:
            findings.append((False, f"cannot be read: {job_queue.error}"))
            checked.append(QueueHealth(job_queue, findings))
            continue
        dead_letters = job_queue.dead_letters
        if dead_letters is None:
            findings.append(
                (
                    False,
                    "no redrive policy: a job that always fails is retried until the "
                    "retention period ends, then lost",
                )
            )
        else:
            count = job_queue.max_receive_count
            findings.append(
                (
                    count == max_retries,
                    f"redrive policy: to {dead_letters.name} after maxReceiveCount={count} "
                    f"receives (the daemon's MaxRetries: {max_retries})",
                )
            )
            longer = dead_letters.attributes.retention_seconds > attributes.retention_seconds
            findings.append(
                (
                    longer,
                    f"dead-letter retention {_days(dead_letters.attributes.retention_seconds)} "
                    f"against the queue's {_days(attributes.retention_seconds)}"
                    + (
                        ""
                        if longer
                        else ": SQS counts a dead letter's age from its first send, so it "
                        "must be longer or dead letters expire early"
                    ),
                )
            )
        findings.append(
            (
                attributes.visibility_timeout > inactivity,
                f"visibility timeout {attributes.visibility_timeout}s against the daemon's "
                f"inactivity timeout {inactivity}s"
                + (
                    ""
                    if attributes.visibility_timeout > inactivity
                    else ": a job still running becomes visible again and runs twice"
                ),
            )
        )
        checked.append(QueueHealth(job_queue, findings))
    return checked


def _number(settings: Mapping[str, Any], key: str, default: int) -> int:
    try:
        return int(float(settings.get(key) or default))
    except (TypeError, ValueError):
        return default


def _days(seconds: int) -> str:
    return f"{seconds / 86400:.1f} days" if seconds >= 86400 else f"{seconds}s"
