"""The audit log's costs: no-op jobs over HTTP with it off, on SQLite and on PostgreSQL;
bulk insert of the dashboard's scale data; prune of its oldest part.

PostgreSQL: ``ELASTICJOBS_TEST_POSTGRESQL_URL`` (a server the benchmark may create
databases on), else a throwaway cluster of the installed PostgreSQL on a free loopback
port, removed afterwards (as root it runs as the ``postgres`` user: pg_ctl refuses root).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url

from pyramid_elasticjobs.audit import migrate
from pyramid_elasticjobs.audit.engine import engine_for_url
from pyramid_elasticjobs.audit.models import AttemptRecord
from pyramid_elasticjobs.audit.store import AuditStore
from pyramid_elasticjobs.runtime import get_runtime

from . import apps
from .audit_data import insert_scale_data
from .common import BenchmarkError, Goal, Result
from .http import CONNECTIONS, WRK_THREADS, serving, wrk, wrk_pool_script
from .serve import THREADS
from .traffic import Replay, daemon_delivery

POSTGRESQL_VARIABLE = "ELASTICJOBS_TEST_POSTGRESQL_URL"
AUDIT_URL_VARIABLE = "ELASTICJOBS_AUDIT_URL"
#: Distinct job ids wrk cycles through: each delivery is a job of its own, as in production
#: (one id replayed would make every request update the same job row).
DISTINCT_JOBS = 2_000
#: The goal of issue 7: with the audit log on PostgreSQL, at least 0.6 of the jobs per
#: second of "off" (as a slowdown ratio: off / on <= 1 / 0.6).
POSTGRESQL_SHARE = 0.6
SIDES = ("off", "sqlite", "postgresql")
#: Seconds before wrk gives up on an answer: SQLite writers waiting on each other's lock
#: (busy_timeout) can take longer than wrk's default of 2 s.
WRK_TIMEOUT = 15
#: A throwaway cluster: trust on loopback only, no fsync of the files initdb writes.
INITDB_OPTIONS = ("-A", "trust", "-U", "postgres", "--no-sync")


def distinct_deliveries(count: int) -> list[Replay]:
    """The daemon's POST of a no-op job, ``count`` times with a new job id, message id
    and signature each (signed with the benchmark apps' secret)."""
    template = daemon_delivery()
    signer = get_runtime(apps.with_include().registry).signer
    old_id = template.body.split(b'"id":"', 1)[1].split(b'"', 1)[0]
    replays = []
    for _ in range(count):
        body = template.body.replace(old_id, uuid.uuid4().hex.encode())
        headers = {
            **template.headers,
            "X-Aws-Sqsd-Msgid": str(uuid.uuid4()),
            "X-Aws-Sqsd-Attr-elasticjobs-signature": signer.sign(body),
        }
        replays.append(replace(template, headers=headers, body=body))
    return replays


# -- databases ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def postgresql_server() -> Iterator[str]:
    """A PostgreSQL server URL (database ``postgres``): the variable's, else a throwaway one."""
    given = os.environ.get(POSTGRESQL_VARIABLE)
    if given:
        yield given
        return
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        raise BenchmarkError(
            f"no PostgreSQL: install it (apt postgresql) or set {POSTGRESQL_VARIABLE}"
        )
    binaries = Path(found[-1]).parent
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    folder = Path(tempfile.mkdtemp(prefix="elasticjobs-bench-pg-"))
    port = _free_port()
    if as_postgres:
        shutil.chown(folder, "postgres")
    data = folder / "data"
    run = [*as_postgres, str(binaries / "pg_ctl"), "-D", str(data)]
    try:
        subprocess.run(  # noqa: S603 - the installed PostgreSQL, fixed arguments
            [
                *as_postgres,
                str(binaries / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
        )
        # Default durability (fsync, synchronous_commit on): what a production server has.
        options = f"-h 127.0.0.1 -p {port} -k {folder} -c max_connections=100"
        subprocess.run(  # noqa: S603
            [*run, "-l", str(folder / "server.log"), "-w", "-s", "-o", options, "start"],
            check=True,
            capture_output=True,
        )
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*run, "-m", "fast", "-w", "-s", "stop"], check=False, capture_output=True)  # noqa: S603
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def postgresql_database(server: str) -> Iterator[str]:
    """A new, empty database on ``server``, dropped afterwards."""
    name = f"elasticjobs_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def audit_databases() -> Iterator[dict[str, str]]:
    """Upgraded, empty audit databases: ``{"sqlite": url, "postgresql": url}``."""
    with (
        tempfile.TemporaryDirectory() as scratch,
        postgresql_server() as server,
        postgresql_database(server) as postgresql,
    ):
        urls = {"sqlite": f"sqlite:///{scratch}/audit.sqlite", "postgresql": postgresql}
        for url in urls.values():
            with _engine(url) as engine:
                migrate.upgrade(engine)
        yield urls


@contextlib.contextmanager
def _engine(url: str) -> Iterator[Engine]:
    engine = engine_for_url(url)
    try:
        yield engine
    finally:
        engine.dispose()


def _attempts(url: str) -> int:
    with _engine(url) as engine, engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(AttemptRecord)) or 0


# -- (a) no-op jobs over HTTP ----------------------------------------------------------------


def measure_http(rounds: int, seconds: int) -> list[Result]:
    """Jobs/s with the audit log off, on SQLite and on PostgreSQL, rotating in each round."""
    with tempfile.TemporaryDirectory() as scratch, audit_databases() as urls:
        script = Path(scratch) / "jobs.lua"
        script.write_text(wrk_pool_script(distinct_deliveries(DISTINCT_JOBS)))
        environments = {
            "off": {},
            **{side: {AUDIT_URL_VARIABLE: url} for side, url in urls.items()},
        }
        served = dict.fromkeys(SIDES, 0)
        rates: dict[str, list[float]] = {side: [] for side in SIDES}
        with contextlib.ExitStack() as servers:
            addresses = {
                side: servers.enter_context(serving("with-include", env=environments[side]))
                for side in SIDES
            }
            for side in SIDES:  # warm-up: imports, first requests, pools, thread start
                served[side] += wrk(addresses[side], script, 1, timeout=WRK_TIMEOUT).requests
            for round_number in range(rounds):
                shift = round_number % len(SIDES)
                for side in SIDES[shift:] + SIDES[:shift]:
                    load = wrk(addresses[side], script, seconds, timeout=WRK_TIMEOUT)
                    served[side] += load.requests
                    rates[side].append(load.rate)
            time.sleep(1)  # answers wrk stopped waiting for are still being recorded
        recorded = {side: _attempts(url) for side, url in urls.items()}
    notes = [
        f"waitress {THREADS} threads, wrk {WRK_THREADS} threads {CONNECTIONS} connections, "
        f"{DISTINCT_JOBS:,} distinct signed no-op jobs in turn, {rounds} rounds of {seconds} s "
        "per side (the three sides rotate who goes first); ratio = off jobs/s / on",
        "jobs/s, median: "
        + ", ".join(f"{side} {statistics.median(rates[side]):,.0f}" for side in SIDES),
        *(
            f"{side}: {recorded[side]:,} attempts recorded for {served[side]:,} answered "
            f"requests{'' if recorded[side] >= served[side] else ' (RECORDS LOST: see its log)'}"
            for side in urls
        ),
    ]
    off = rates["off"]
    results = []
    for side, goal in (("sqlite", None), ("postgresql", Goal(round(1 / POSTGRESQL_SHARE, 3)))):
        share = statistics.median(rates[side]) / statistics.median(off)
        results.append(
            Result(
                f"audit-http-{side}",
                f"(f) no-op job, audit on {side} vs off, waitress+wrk (share {share:.2f})",
                "jobs/s",
                statistics.median(rates[side]),
                statistics.median(off),
                [o / s for o, s in zip(off, rates[side], strict=True)],
                goal,
                notes if side == "postgresql" else [],
            )
        )
    return results


# -- (b) bulk insert and (c) prune -------------------------------------------------------------


def measure_scale(jobs: int, attempts: int, days: int, prune_days: int, batch: int) -> list[Result]:
    """Insert the scale data on SQLite and PostgreSQL, then prune what is older than
    ``prune_days``: elapsed seconds of each (figures to read, no goal)."""
    results: list[Result] = []
    with audit_databases() as urls:
        for side, url in urls.items():
            with _engine(url) as engine:
                started = time.perf_counter()
                counts = insert_scale_data(engine, jobs=jobs, attempts=attempts, days=days)
                inserted = time.perf_counter() - started
                store = AuditStore(engine)
                before = counts.now - timedelta(days=prune_days)
                prunable = store.prunable(before)
                started = time.perf_counter()
                batches = list(store.prune(before, batch))
                pruned = time.perf_counter() - started
            rows = counts.jobs + counts.attempts + counts.rollups
            results.append(
                Result(
                    f"audit-insert-{side}",
                    f"(g) insert {counts.jobs:,} jobs + {counts.attempts:,} attempts, {side}",
                    "s",
                    inserted,
                    inserted,
                    [1.0],
                    None,
                    [
                        f"{side}: {rows:,} rows ({counts.rollups:,} rollups) in {inserted:,.1f} s "
                        f"= {rows / inserted:,.0f} rows/s, SQLAlchemy Core executemany, "
                        "10,000 rows per statement, one transaction"
                    ],
                )
            )
            results.append(
                Result(
                    f"audit-prune-{side}",
                    f"(h) prune the part older than {prune_days} of {days} days, {side}",
                    "s",
                    pruned,
                    pruned,
                    [1.0],
                    None,
                    [
                        f"{side}: {sum(batches):,} rows deleted (prunable() counted {prunable:,}) "
                        f"in {len(batches)} batches of at most {batch:,}, {pruned:,.1f} s: "
                        f"{pruned / max(len(batches), 1):.2f} s per batch (one transaction) "
                        "on average"
                    ],
                )
            )
    return results


def scale_plan(quick: bool) -> tuple[int, int]:
    """(jobs, attempts): the issue's scale, or a tenth of it with --quick."""
    return (100_000, 300_000) if quick else (1_000_000, 3_000_000)
