"""50 workers at once (the daemon's HttpConnections default) lose and duplicate no record."""

from __future__ import annotations

import http.client
import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine

from pyramid_elasticjobs.audit.models import AttemptRecord, JobRecord
from tests.served import waitress_in_thread
from tests.support import make_envelope

from .support import (
    attempt_rows_per_job,
    attempts_per_job,
    count_rows,
    rollup_totals,
    signed_delivery,
)

WORKERS = 50
JOBS_PER_NAME = 50  # noop and explode each: every job delivered twice, by two workers


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    host, _, port = url.removeprefix("http://").partition(":")
    connection = http.client.HTTPConnection(host, int(port))
    try:
        connection.request("POST", "/", body, headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_fifty_concurrent_workers_lose_and_duplicate_nothing(
    make_audit_app: Callable[..., Any],
    database: Engine,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """50 threads POST through waitress at once: exact counts of jobs, attempts and rollups."""
    app = make_audit_app(database_url, **{"elasticjobs.remote_addr_is_client": "true"})
    envelopes = [make_envelope(name) for name in ("noop", "explode") for _ in range(JOBS_PER_NAME)]
    # Every job twice (receive counts 1 and 2), its copies in two different workers' hands.
    deliveries = [
        signed_delivery(app.registry, envelope, receive_count=count)
        for count in (1, 2)
        for envelope in envelopes
    ]
    shares = [deliveries[worker::WORKERS] for worker in range(WORKERS)]
    statuses: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(WORKERS)

    with waitress_in_thread(app, threads=WORKERS) as url, caplog.at_level(logging.WARNING):

        def worker(share: list[tuple[bytes, dict[str, str]]]) -> None:
            start.wait()
            for body, headers in share:
                status = _post(url, body, headers)
                with lock:
                    statuses.append(status)

        threads = [threading.Thread(target=worker, args=(share,)) for share in shares]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert sorted(statuses) == [200] * 2 * JOBS_PER_NAME + [500] * 2 * JOBS_PER_NAME
    assert count_rows(database, JobRecord) == 2 * JOBS_PER_NAME
    assert count_rows(database, AttemptRecord) == 4 * JOBS_PER_NAME
    every_job = {envelope.job_id for envelope in envelopes}
    assert attempts_per_job(database) == dict.fromkeys(every_job, 2)
    assert attempt_rows_per_job(database) == dict.fromkeys(every_job, 2)
    assert rollup_totals(database) == {
        "succeeded": 2 * JOBS_PER_NAME,
        "failed": 2 * JOBS_PER_NAME,
    }
    store_errors = [r for r in caplog.records if r.name.startswith("pyramid_elasticjobs.audit")]
    assert store_errors == []
