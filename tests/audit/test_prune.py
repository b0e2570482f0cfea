"""Retention: prune deletes what is older than the cut, in batches, and keeps unfinished jobs."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select

from pyramid_elasticjobs.audit.models import (
    AttemptRecord,
    JobRecord,
    JobState,
    Outcome,
    PeriodicRunRecord,
)
from pyramid_elasticjobs.audit.store import AttemptFacts, AuditStore, JobFacts
from pyramid_elasticjobs.audit.writer import flush_all

from .support import count_rows

NOW = datetime.now(UTC)
CUT = NOW - timedelta(days=30)
OLD = NOW - timedelta(days=45)
RECENT = NOW - timedelta(days=2)


def _record(
    store: AuditStore,
    job_id: str,
    at: datetime,
    outcome: Outcome,
    state: JobState,
    periodic: tuple[str, datetime] | None = None,
) -> None:
    """A job that ended at ``at`` with one attempt, written through the store's own API."""
    job = JobFacts(job_id, "noop", "default", {}, at, None, f"m-{job_id}")
    attempt = AttemptFacts(1, at, at, 0.01, outcome, 500 if outcome is Outcome.FAILED else 200)
    store.attempt_ended(job, attempt, state, periodic)


def _seed(store: AuditStore) -> None:
    for number in range(7):
        _record(store, f"old-done-{number}", OLD, Outcome.SUCCEEDED, JobState.SUCCEEDED)
    for number in range(3):
        _record(store, f"new-done-{number}", RECENT, Outcome.SUCCEEDED, JobState.SUCCEEDED)
    # Failed (will be retried): unfinished, kept however old.
    _record(store, "old-failed", OLD, Outcome.FAILED, JobState.FAILED)
    _record(store, "old-dead", OLD, Outcome.FAILED, JobState.DEAD)
    for day in range(4):
        moment = OLD - timedelta(days=day)
        _record(
            store, f"old-cron-{day}", moment, Outcome.SUCCEEDED, JobState.SUCCEEDED, ("n", moment)
        )
    _record(store, "new-cron", RECENT, Outcome.SUCCEEDED, JobState.SUCCEEDED, ("n", RECENT))


def _job_ids(engine: Engine) -> set[str]:
    flush_all()  # job events are written behind
    with engine.connect() as connection:
        return set(connection.scalars(select(JobRecord.job_id)))


def test_prune_deletes_only_records_older_than_the_cut(store: AuditStore, database: Engine) -> None:
    """Old finished jobs, their attempts and old periodic runs go; recent and unfinished stay."""
    _seed(store)
    total = store.prunable(CUT)
    # attempts: 7 + 2 + 4 old; jobs: 7 + 1 dead + 4 cron finished; periodic runs: 4
    assert total == 13 + 12 + 4
    deleted = list(store.prune(CUT, batch=5))
    assert sum(deleted) == total
    assert _job_ids(database) == {
        "new-done-0",
        "new-done-1",
        "new-done-2",
        "new-cron",
        "old-failed",
    }
    assert count_rows(database, AttemptRecord) == 4
    flush_all()  # job events are written behind
    with database.connect() as connection:
        assert list(connection.scalars(select(PeriodicRunRecord.scheduled_at))) == [RECENT]
    assert store.prunable(CUT) == 0
    assert list(store.prune(CUT, batch=5)) == []


def test_prune_works_in_batches(store: AuditStore) -> None:
    """Each batch deletes at most ``batch`` rows, in its own transaction."""
    _seed(store)
    batches = list(store.prune(CUT, batch=3))
    assert all(0 < size <= 3 for size in batches)
    # attempts 13, jobs 12, periodic runs 4: batches never span two tables
    assert len(batches) == math.ceil(13 / 3) + math.ceil(12 / 3) + math.ceil(4 / 3)


def test_prune_keeps_the_rollups(store: AuditStore, database: Engine) -> None:
    """Counts outlive the records they count: pruning leaves the hour's totals alone."""
    _seed(store)
    before = store.counts(OLD - timedelta(days=10))
    list(store.prune(CUT, batch=100))
    assert store.counts(OLD - timedelta(days=10)) == before
    assert before["succeeded"] == 7 + 3 + 4 + 1


def test_prune_covers_actions_and_dead_letters(store: AuditStore, database: Engine) -> None:
    """Operator actions and dead-letter snapshots are pruned by their own times."""
    store.dead_letter_seen(
        dead_letter_queue="default-dead",
        message_id="m-1",
        source_queue="default",
        job_id="j-1",
        body="{}",
        attributes={"ElasticJobs-Signature": "x"},
        receive_count=10,
    )
    store.action_taken(actor="ops@example.com", action="redrive", queue="default-dead")
    assert store.prunable(CUT) == 0
    later = datetime.now(UTC) + timedelta(seconds=1)
    assert store.prunable(later) == 2
    assert sum(store.prune(later, batch=100)) == 2
    assert store.prunable(later) == 0
