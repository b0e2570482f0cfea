"""The dashboard at scale: its pages over 1,000,000 jobs and 3,000,000 attempts.

On SQLite and on PostgreSQL, side by side in one run, through WebTest (the whole view:
routing, queries, templates), medians of interleaved rounds:

- a deep page of the jobs list (the 10,000th, reached by following the keyset cursors;
  only the request for that page is timed) and filtered pages, each against the first
  page of the same database (goal <= 1.5x);
- the first page and the overview at 1,000,000 jobs against the same at 1,000 (goal <= 2x).

The data is ``bench.audit_data``'s (the same seed, the same jobs), written straight
through the database drivers: executemany on SQLite, COPY on PostgreSQL, from a SQLite
file cached under ``var/bench/`` for a few hours (the overview reads the last 24 hours,
so older data would flatter it). PostgreSQL is analyzed after loading, as autovacuum
would; SQLite is not (nothing runs ANALYZE on an application's SQLite file).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyramid.config import Configurator
from pyramid.session import SignedCookieSessionFactory
from sqlalchemy import Engine, literal, select, tuple_
from webtest import TestApp  # type: ignore[import-untyped]

from pyramid_elasticjobs.audit import migrate
from pyramid_elasticjobs.audit.engine import engine_for_url
from pyramid_elasticjobs.audit.models import JobRecord, Moment
from pyramid_elasticjobs.audit.queries import AuditQueries, Cursor, JobFilter

from .audit import postgresql_database, postgresql_server
from .audit_data import ATTEMPTS, JOBS, ROLLUPS, scale_rows
from .common import ROOT, BenchmarkError, Goal, Result, app_settings

CACHE = ROOT / "var" / "bench"
#: A cached database older than this is rebuilt: the overview reads the last 24 hours.
CACHE_HOURS = 6
LARGE = (1_000_000, 3_000_000)
SMALL = (1_000, 3_000)
QUICK_LARGE = (100_000, 300_000)
#: The deep page: the issue asks for the 10,000th (the default page size is 50).
DEEP_PAGE = 10_000
QUICK_DEEP_PAGE = 1_000
MOUNT = "/elasticjobs"
#: Filters an operator uses, from common to rare (shares of bench.audit_data's mix).
FILTERS = (
    ("state=dead", {"state": "dead"}),  # 10 %
    ("name=build_report", {"name": "build_report"}),  # 5 %
    ("name=cleanup_sessions&state=dead", {"name": "cleanup_sessions", "state": "dead"}),  # 0.1 %
    ("error=KeyError", {"error": "KeyError"}),  # about 3 %
    # An exception class no job raised: what an operator's typo or a fixed bug looks like.
    ("error=NoSuchError", {"error": "NoSuchError"}),  # 0 %
)
ROWS_PER_INSERT = 10_000


# -- data ------------------------------------------------------------------------------------


def _sqlite_value(value: Any) -> Any:
    """What SQLAlchemy's SQLite dialect stores: naive UTC text for instants, JSON text."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dict):
        return json.dumps(value)
    return value


def _columns(table: Any) -> list[str]:
    """The columns a generated row fills (the attempts' id is the database's)."""
    return [column.name for column in table.columns if column.name != "id"]


def _insert(table: Any, columns: list[str]) -> str:
    """An INSERT of ``columns`` into ``table``, one ``?`` each (names from the models)."""
    marks = ", ".join("?" * len(columns))
    return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608


def build_sqlite(path: Path, jobs: int, attempts: int) -> None:
    """``bench.audit_data``'s rows (and their rollups) into an upgraded SQLite file."""
    from collections import Counter

    engine = engine_for_url(f"sqlite:///{path}")
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    now = datetime.now(UTC)
    job_columns, attempt_columns = _columns(JOBS), _columns(ATTEMPTS)
    insert_job, insert_attempt = _insert(JOBS, job_columns), _insert(ATTEMPTS, attempt_columns)
    rollups: Counter[tuple[str, str, str, str]] = Counter()

    def hour(moment: datetime) -> str:
        return _sqlite_value(moment.replace(minute=0, second=0, microsecond=0))  # type: ignore[no-any-return]

    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA journal_mode=OFF")
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA cache_size=-1000000")
        job_rows: list[tuple[Any, ...]] = []
        attempt_rows: list[tuple[Any, ...]] = []
        for job, job_attempts in scale_rows(jobs, attempts, 30, 7, now):
            job_rows.append(tuple(_sqlite_value(job[column]) for column in job_columns))
            for attempt in job_attempts:
                attempt_rows.append(
                    tuple(_sqlite_value(attempt[column]) for column in attempt_columns)
                )
                rollups[
                    hour(attempt["finished_at"]), job["name"], job["queue"], attempt["outcome"]
                ] += 1
            if job["enqueued_at"] is not None:
                rollups[hour(job["created_at"]), job["name"], job["queue"], "enqueued"] += 1
            if job["state"] == "dead":
                rollups[hour(job["finished_at"]), job["name"], job["queue"], "dead"] += 1
            if len(attempt_rows) >= ROWS_PER_INSERT:
                connection.executemany(insert_job, job_rows)
                connection.executemany(insert_attempt, attempt_rows)
                job_rows, attempt_rows = [], []
        connection.executemany(insert_job, job_rows)
        connection.executemany(insert_attempt, attempt_rows)
        connection.executemany(
            _insert(ROLLUPS, ["hour", "name", "queue", "outcome", "count"]),
            [(*key, count) for key, count in rollups.items()],
        )
        connection.commit()
    finally:
        connection.close()


def cached_sqlite(jobs: int, attempts: int) -> Path:
    """The cached SQLite file of this size, built if missing or older than ``CACHE_HOURS``
    (a few minutes a million jobs). A stamp file dates it: opening the database (WAL)
    touches the file itself."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"dashboard-{jobs}-{attempts}.sqlite"
    stamp = path.with_suffix(".built")
    fresh = (
        path.exists()
        and stamp.exists()
        and time.time() - stamp.stat().st_mtime < CACHE_HOURS * 3600
    )
    if not fresh:
        stamp.unlink(missing_ok=True)
        for leftover in CACHE.glob(path.name + "*"):
            leftover.unlink()
        partial = path.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        build_sqlite(partial, jobs, attempts)
        partial.replace(path)
        stamp.touch()
    return path


def copy_to_postgresql(source: Path, url: str) -> None:
    """Every audit row of the SQLite file ``source`` into the upgraded database at ``url``:
    COPY without the secondary indexes, which are then built again, then VACUUM ANALYZE."""
    import psycopg

    engine = engine_for_url(url)
    try:
        migrate.upgrade(engine)
        indexes = [index for table in (JOBS, ATTEMPTS) for index in table.indexes]
        with engine.begin() as connection:
            for index in indexes:
                index.drop(connection)
        conninfo = url.replace("postgresql+psycopg://", "postgresql://")
        reader = sqlite3.connect(source)
        try:
            with psycopg.connect(conninfo) as copying:
                copying.execute("SET TIME ZONE 'UTC'")
                for table in (JOBS, ATTEMPTS, ROLLUPS):
                    listed = ", ".join(column.name for column in table.columns)
                    statement = f"COPY {table.name} ({listed}) FROM STDIN"
                    with copying.cursor().copy(statement) as copy:
                        rows = reader.execute(f"SELECT {listed} FROM {table.name}")  # noqa: S608
                        for row in rows:
                            copy.write_row(row)
        finally:
            reader.close()
        with engine.begin() as connection:
            for index in indexes:
                index.create(connection)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    finally:
        engine.dispose()


# -- measuring -------------------------------------------------------------------------------


def dashboard_app(url: str) -> TestApp:
    """An application with the dashboard over the audit log at ``url`` (read-only views)."""
    settings = {
        **app_settings(),
        "elasticjobs.audit.url": url,
        "elasticjobs.dashboard.allow_anonymous": "true",
    }
    with Configurator(settings=settings) as config:
        config.set_session_factory(SignedCookieSessionFactory("bench-session-secret-0123456789"))
        config.include("pyramid_elasticjobs")
        config.include("pyramid_elasticjobs.dashboard")
    return TestApp(config.make_wsgi_app())


def walk(engine: Engine, pages: int, page_size: int) -> Cursor:
    """The cursor of the ``pages``-th page of the unfiltered list, reached by following each
    page's cursor: the jobs list's order and page size, its cursor taken from the last row.

    Walked with a row-value comparison rather than through ``AuditQueries.jobs``, whose
    OR form scans the index from the newest row on SQLite (see docs/performance.md): the
    walk is not what is timed, and would otherwise take most of an hour.
    """
    queries = AuditQueries(engine)
    first = queries.jobs(JobFilter(), None, page_size).next_cursor
    if first is None:
        raise BenchmarkError(f"the jobs list has fewer than {pages} pages")
    key = tuple_(JobRecord.created_at, JobRecord.job_id)
    created_at, job_id = first.created_at, first.job_id
    with engine.connect() as connection:
        for _ in range(pages - 2):
            query = (
                select(JobRecord.created_at, JobRecord.job_id)
                .where(key < tuple_(literal(created_at, Moment()), literal(job_id)))
                .order_by(JobRecord.created_at.desc(), JobRecord.job_id.desc())
                .offset(page_size - 1)
                .limit(1)
            )
            row = connection.execute(query).first()
            if row is None:
                raise BenchmarkError(f"the jobs list has fewer than {pages} pages")
            created_at, job_id = row
    cursor = Cursor(created_at, job_id)
    # The same cursor as the dashboard's own: its page starts right after it.
    check = queries.jobs(JobFilter(), cursor, 1).jobs
    if not check or (check[0].created_at, check[0].job_id) >= (created_at, job_id):
        raise BenchmarkError("the walked cursor does not continue the jobs list")
    return cursor


@dataclass(frozen=True, slots=True)
class Request:
    """One page to time: a label and the GET path (with its query string)."""

    label: str
    path: str


def timed_medians(app: TestApp, requests: list[Request], rounds: int) -> dict[str, list[float]]:
    """Seconds per request, each request once per round, the order rotating every round."""
    times: dict[str, list[float]] = {request.label: [] for request in requests}
    for request in requests:  # warm-up: templates, pools, the database's cache
        for _ in range(2):
            app.get(request.path, status=200)
    for round_number in range(rounds):
        shift = round_number % len(requests)
        for request in requests[shift:] + requests[:shift]:
            started = time.perf_counter()
            app.get(request.path, status=200)
            times[request.label].append(time.perf_counter() - started)
    return times


@contextlib.contextmanager
def databases(large: tuple[int, int]) -> Iterator[dict[str, dict[str, str]]]:
    """``{backend: {"small": url, "large": url}}`` on SQLite and a PostgreSQL server."""
    small_path = cached_sqlite(*SMALL)
    large_path = cached_sqlite(*large)
    with (
        postgresql_server() as server,
        postgresql_database(server) as small_pg,
        postgresql_database(server) as large_pg,
    ):
        started = time.perf_counter()
        copy_to_postgresql(small_path, small_pg)
        copy_to_postgresql(large_path, large_pg)
        print(
            f"  dashboard: PostgreSQL loaded in {time.perf_counter() - started:.0f} s", flush=True
        )
        yield {
            "SQLite": {"small": f"sqlite:///{small_path}", "large": f"sqlite:///{large_path}"},
            "PostgreSQL": {"small": small_pg, "large": large_pg},
        }


def measure(rounds: int, quick: bool = False) -> list[Result]:
    """The deep, filtered and first pages and the overview, on SQLite and PostgreSQL."""
    large = QUICK_LARGE if quick else LARGE
    deep = QUICK_DEEP_PAGE if quick else DEEP_PAGE
    results: list[Result] = []
    with databases(large) as urls:
        for backend, sizes in urls.items():
            results += _measure_backend(backend, sizes, large, deep, rounds)
    return results


def _measure_backend(
    backend: str, sizes: dict[str, str], large: tuple[int, int], deep: int, rounds: int
) -> list[Result]:
    small_app, large_app = dashboard_app(sizes["small"]), dashboard_app(sizes["large"])
    engine = engine_for_url(sizes["large"])
    try:
        page_size = large_app.app.registry["elasticjobs.dashboard.context"].settings.page_size
        started = time.perf_counter()
        cursor = walk(engine, deep, page_size)
        walked = time.perf_counter() - started
    finally:
        engine.dispose()
    jobs = MOUNT + "/jobs"
    requests = [
        Request("first", jobs),
        Request("deep", f"{jobs}?after={cursor.encode()}"),
        *(
            Request(label, jobs + "?" + "&".join(f"{k}={v}" for k, v in query.items()))
            for label, query in FILTERS
        ),
        Request("overview", MOUNT + "/"),
    ]
    at_scale = timed_medians(large_app, requests, rounds)
    baseline = timed_medians(small_app, [requests[0], requests[-1]], rounds)
    million = f"{large[0]:,} jobs"
    first = at_scale["first"]

    def result(key: str, title: str, ours: list[float], base: list[float], limit: float) -> Result:
        return Result(
            f"dashboard-{backend.lower()}-{key}",
            f"{title} ({backend})",
            "ms",
            statistics.median(ours) * 1e3,
            statistics.median(base) * 1e3,
            [o / b for o, b in zip(ours, base, strict=True)],
            Goal(limit),
            [],
        )

    results = [
        result("deep", f"jobs page {deep:,} / page 1, {million}", at_scale["deep"], first, 1.5),
        *(
            result(
                f"filter-{label}", f"jobs ?{label} / page 1, {million}", at_scale[label], first, 1.5
            )
            for label, _ in FILTERS
        ),
        result("first", f"jobs page 1, {million} / 1,000 jobs", first, baseline["first"], 2.0),
        result(
            "overview",
            f"overview (24h), {million} / 1,000 jobs",
            at_scale["overview"],
            baseline["overview"],
            2.0,
        ),
    ]
    results[0].notes.append(
        f"{backend}: WebTest GETs, wall time, median of {rounds} rounds (requests rotate); "
        f"walking {deep - 1:,} cursors to the deep page took {walked:.1f} s (not timed); "
        f"{large[1]:,} attempts"
    )
    return results
