"""Scale data for the audit log: a month of a busy app's jobs, for benchmarks and the dashboard.

``insert_scale_data(engine)`` writes 1,000,000 jobs and exactly 3,000,000 attempts (the
dashboard issue's scale) into an upgraded audit database, with the hourly rollups that
match them. The same seed gives the same data. Jobs are spread evenly over ``days`` up
to ``now``; their names, queues and states are skewed the way production logs are (a few
names dominate, most jobs succeed first time, a few per cent die after ten attempts),
and every failed attempt carries an exception class, message and a short traceback.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert

from pyramid_elasticjobs.audit.models import AttemptRecord, Base, JobRecord, RollupRecord

#: Core tables, not the mapped classes: an insert of a class takes the ORM's slower bulk path.
JOBS, ATTEMPTS, ROLLUPS = (
    Base.metadata.tables[model.__tablename__] for model in (JobRecord, AttemptRecord, RollupRecord)
)

#: Rows per executemany: big enough to amortise round trips, small enough for memory.
CHUNK = 10_000
#: aws-sqsd's MaxRetries default: the receive after which SQS moves a message to the DLQ.
MAX_RECEIVE_COUNT = 10

#: (job name, queue, relative frequency): a few names dominate, as in real apps.
JOB_MIX = (
    ("send_welcome_email", "emails", 30),
    ("resize_image", "images", 25),
    ("send_reminder", "emails", 10),
    ("sync_to_crm", "default", 10),
    ("charge_invoice", "billing", 8),
    ("build_report", "reports", 5),
    ("index_document", "default", 5),
    ("export_csv", "reports", 4),
    ("heartbeat", "default", 2),
    ("cleanup_sessions", "default", 1),
)
#: What failed attempts raised: (exception class, message template).
ERRORS = (
    ("myapp.crm.CrmUnavailable", "crm.example.invalid refused account {n}"),
    (
        "requests.exceptions.ConnectTimeout",
        "HTTPSConnectionPool(host='api.example.invalid'): timed out",
    ),
    ("psycopg.errors.SerializationFailure", "could not serialize access due to concurrent update"),
    ("KeyError", "'customer_{n}'"),
    ("botocore.exceptions.ClientError", "An error occurred (SlowDown) when calling PutObject"),
)
#: Final states and their share; attempts are then fitted so that the total is exact.
STATES = (
    ("succeeded", 0.80),
    ("dead", 0.10),
    ("failed", 0.05),  # will be retried
    ("enqueued", 0.02),
    ("discarded", 0.015),
    ("rejected", 0.01),
    ("running", 0.005),
)
_TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/var/app/current/pyramid_elasticjobs/worker.py", line 212, in _run\n'
    "    result = definition.function(context, **arguments)\n"
    '  File "/var/app/current/myapp/jobs.py", line {n}, in {name}\n'
    "    client.call(payload)\n"
    '  File "/var/app/current/myapp/clients.py", line 88, in call\n'
    "    raise error\n"
    "{error}\n"
)


@dataclass(frozen=True, slots=True)
class ScaleCounts:
    """How many rows :func:`insert_scale_data` wrote, and up to when."""

    jobs: int
    attempts: int
    rollups: int
    now: datetime


def insert_scale_data(
    engine: Engine,
    *,
    jobs: int = 1_000_000,
    attempts: int = 3_000_000,
    days: int = 30,
    seed: int = 7,
    now: datetime | None = None,
) -> ScaleCounts:
    """Write the jobs, their attempts and the matching rollups, ``CHUNK`` rows per statement.

    The database must be upgraded (``migrate.upgrade``) and is best empty: job ids are
    random UUIDs from ``seed``, so a second call with the same seed collides.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    rollups: Counter[tuple[datetime, str, str, str]] = Counter()
    written = 0
    with engine.begin() as connection:
        job_rows: list[dict[str, Any]] = []
        attempt_rows: list[dict[str, Any]] = []
        for job, job_attempts in scale_rows(jobs, attempts, days, seed, now):
            job_rows.append(job)
            attempt_rows.extend(job_attempts)
            if job["enqueued_at"] is not None:
                rollups[_hour(job["created_at"]), job["name"], job["queue"], "enqueued"] += 1
            for attempt in job_attempts:
                key = (_hour(attempt["finished_at"]), job["name"], job["queue"])
                rollups[(*key, attempt["outcome"])] += 1
            if job["state"] == "dead":
                rollups[_hour(job["finished_at"]), job["name"], job["queue"], "dead"] += 1
            if len(job_rows) >= CHUNK:
                connection.execute(insert(JOBS), job_rows)
                job_rows = []
            if len(attempt_rows) >= CHUNK:
                connection.execute(insert(ATTEMPTS), attempt_rows)
                written += len(attempt_rows)
                attempt_rows = []
        for table, rows in ((JOBS, job_rows), (ATTEMPTS, attempt_rows)):
            if rows:
                connection.execute(insert(table), rows)
        written += len(attempt_rows)
        rollup_rows = [
            {"hour": hour, "name": name, "queue": queue, "outcome": outcome, "count": count}
            for (hour, name, queue, outcome), count in rollups.items()
        ]
        for start in range(0, len(rollup_rows), CHUNK):
            connection.execute(insert(ROLLUPS), rollup_rows[start : start + CHUNK])
    return ScaleCounts(jobs, written, len(rollup_rows), now)


def scale_rows(
    jobs: int, attempts: int, days: int, seed: int, now: datetime
) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Each job's row with its attempts' rows, oldest first; ``attempts`` in total, exactly."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    names = [(name, queue) for name, queue, _ in JOB_MIX]
    name_weights = [weight for _, _, weight in JOB_MIX]
    states = rng.choices([state for state, _ in STATES], [share for _, share in STATES], k=jobs)
    counts = [_attempts(rng, state) for state in states]
    _fit(rng, states, counts, attempts)
    span = days * 86_400.0
    offsets = sorted(rng.random() * span for _ in range(jobs))
    start = now - timedelta(seconds=span)
    for index in range(jobs):
        name, queue = rng.choices(names, name_weights)[0]
        state, count = states[index], counts[index]
        created = start + timedelta(seconds=offsets[index])
        yield _job(rng, index, name, queue, state, count, created, now)


def _job(
    rng: random.Random,
    index: int,
    name: str,
    queue: str,
    state: str,
    count: int,
    created: datetime,
    now: datetime,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    job_id = uuid.UUID(int=rng.getrandbits(128), version=4).hex
    message_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    periodic = name == "heartbeat"
    finished_attempts = count
    rows: list[dict[str, Any]] = []
    moment = created + timedelta(seconds=rng.uniform(0.005, 2.0))  # time in the queue
    error: tuple[str, str] | None = None
    for receive_count in range(1, finished_attempts + 1):
        duration = rng.lognormvariate(-2.5, 1.2)  # median 80 ms, a long tail of seconds
        finished = min(moment + timedelta(seconds=duration), now)
        last = receive_count == finished_attempts
        outcome = _outcome(state) if last else "failed"
        exception_class = message = traceback = None
        if outcome in ("failed", "discarded"):
            error_class, template = ERRORS[rng.randrange(len(ERRORS))]
            exception_class, message = error_class, template.format(n=index % 9973)
            traceback = _TRACEBACK.format(
                n=40 + index % 200, name=name, error=f"{exception_class}: {message}"
            )
            error = (exception_class, message)
        elif outcome == "rejected":
            message = "invalid arguments: {'image_id': ['Missing data for required field.']}"
        rows.append(
            {
                "job_id": job_id,
                "message_id": message_id,
                "receive_count": receive_count,
                "started_at": moment,
                "finished_at": finished,
                "duration": duration,
                "outcome": outcome,
                "status": {"failed": 500, "rejected": 422}.get(outcome, 200),
                "exception_class": exception_class,
                "exception_message": message,
                "traceback": traceback,
                "host": f"ip-10-0-{index % 4}-{17 + index % 3}",
                "pid": 4000 + index % 8,
            }
        )
        # The daemon retries after the visibility timeout (300 s by default).
        moment = finished + timedelta(seconds=rng.uniform(2.0, 300.0))
    terminal = state in ("succeeded", "dead", "discarded", "rejected")
    updated = rows[-1]["finished_at"] if rows else created
    job = {
        "job_id": job_id,
        "name": name,
        "queue": queue,
        "state": state,
        "arguments": None if periodic else {"account_id": index % 50_000, "locale": "en"},
        "created_at": created,
        "updated_at": updated,
        "enqueued_at": None if periodic else created,
        "run_at": None,
        "finished_at": updated if terminal else None,
        "message_id": message_id,
        # A running job has started one more attempt, which has no row until it ends.
        "attempts": count + 1 if state == "running" else count,
        "last_error_class": error[0] if error else None,
        "last_error": f"{error[0]}: {error[1]}" if error else None,
    }
    return job, rows


def _attempts(rng: random.Random, state: str) -> int:
    """Attempts before fitting: most succeed at once, the dead used every receive."""
    match state:
        case "succeeded":
            return 1 if rng.random() < 0.55 else rng.randint(2, 8)
        case "dead":
            return MAX_RECEIVE_COUNT
        case "failed":
            return rng.randint(1, MAX_RECEIVE_COUNT - 1)
        case "enqueued":
            return 0
        case "discarded":
            return rng.randint(1, 3)
        case "running":
            return rng.randint(0, 2)  # finished attempts; one more is under way
    return 1  # rejected: refused on its first delivery


def _fit(rng: random.Random, states: list[str], counts: list[int], target: int) -> None:
    """Nudge succeeded-after-retries jobs (2..9 attempts) until the total is ``target``."""
    movable = [i for i, state in enumerate(states) if state == "succeeded" and counts[i] > 1]
    gap = target - sum(counts)
    if not movable or abs(gap) > len(movable) * 7:
        raise ValueError(f"cannot fit {target} attempts to {len(states)} jobs; change the mix")
    while gap:
        index = movable[rng.randrange(len(movable))]
        if gap > 0 and counts[index] < MAX_RECEIVE_COUNT - 1:
            counts[index] += 1
            gap -= 1
        elif gap < 0 and counts[index] > 2:
            counts[index] -= 1
            gap += 1


def _outcome(state: str) -> str:
    return {
        "succeeded": "succeeded",
        "discarded": "discarded",
        "rejected": "rejected",
    }.get(state, "failed")


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)
