"""Helpers of the audit log's tests: databases, a TCP proxy to cut, jobs, daemon requests.

Fixtures live in conftest.py; the test modules import helpers from here, never from conftest.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from marshmallow import Schema, fields
from pyramid.config import Configurator
from sqlalchemy import Engine, create_engine, func, inspect, select, text
from sqlalchemy.engine import make_url
from webtest import TestApp

from pyramid_elasticjobs import JobContext
from pyramid_elasticjobs.audit.models import (
    AttemptRecord,
    JobRecord,
    RollupRecord,
)
from pyramid_elasticjobs.audit.writer import flush_all
from pyramid_elasticjobs.daemon.headers import daemon_headers
from pyramid_elasticjobs.envelope import Envelope
from pyramid_elasticjobs.runtime import get_runtime
from pyramid_elasticjobs.signing import signed_message
from tests.support import receive

#: The PostgreSQL server the tests may create databases on (a superuser's URL).
POSTGRESQL_VARIABLE = "ELASTICJOBS_TEST_POSTGRESQL_URL"
HOW_TO_RUN_POSTGRESQL = (
    f"PostgreSQL tests need a server: set {POSTGRESQL_VARIABLE} to a superuser's URL "
    "(postgresql+psycopg://postgres@127.0.0.1:PORT/postgres), or run `bash .ci/run` as root, "
    "which starts a throwaway one"
)
USER_AGENT = "aws-sqsd/3.0.4"
#: The time zone of every test database's sessions on PostgreSQL (UTC+05:30).
SERVER_ZONE = "Asia/Kolkata"
#: The tables of the audit log, as the migrations create them.
AUDIT_TABLES = frozenset(
    {
        "elasticjobs_actions",
        "elasticjobs_attempts",
        "elasticjobs_dead_letters",
        "elasticjobs_jobs",
        "elasticjobs_periodic_runs",
        "elasticjobs_rollups",
    }
)
VERSION_TABLE = "elasticjobs_alembic_version"

#: Job runs of this module's jobs, by job id (cleared by the ``audit_runs`` fixture).
RUNS: list[str] = []


# --- databases --------------------------------------------------------------------------------


def postgresql_server_url() -> str | None:
    return os.environ.get(POSTGRESQL_VARIABLE) or None


def create_database(server_url: str) -> str:
    """A new, empty database on the server; its URL."""
    name = f"audit_{uuid.uuid4().hex[:16]}"
    server = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
            # A session time zone half an hour off UTC: instants must not depend on it.
            connection.execute(text(f"ALTER DATABASE \"{name}\" SET timezone TO '{SERVER_ZONE}'"))
    finally:
        server.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, database_url: str) -> None:
    """Drop a database made by :func:`create_database`, whoever is still connected."""
    name = make_url(database_url).database
    server = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        server.dispose()


def via_port(database_url: str, port: int) -> str:
    """The same database, reached through ``127.0.0.1:port`` (a proxy in front of it)."""
    url = make_url(database_url).set(host="127.0.0.1", port=port)
    return url.render_as_string(hide_password=False)


def table_names(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def count_rows(engine: Engine, model: Any) -> int:
    flush_all()  # job events are written behind
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(model)) or 0)


def rollup_totals(engine: Engine) -> dict[str, int]:
    """Every rollup count, summed per outcome."""
    flush_all()  # job events are written behind
    with engine.connect() as connection:
        rows = connection.execute(
            select(RollupRecord.outcome, func.sum(RollupRecord.count)).group_by(
                RollupRecord.outcome
            )
        ).all()
    return {outcome: int(total) for outcome, total in rows}


def attempts_per_job(engine: Engine) -> dict[str, int]:
    """The ``attempts`` column of every job row."""
    flush_all()  # job events are written behind
    with engine.connect() as connection:
        rows = connection.execute(select(JobRecord.job_id, JobRecord.attempts)).all()
    return {job_id: int(attempts) for job_id, attempts in rows}


def attempt_rows_per_job(engine: Engine) -> dict[str, int]:
    flush_all()  # job events are written behind
    with engine.connect() as connection:
        rows = connection.execute(
            select(AttemptRecord.job_id, func.count()).group_by(AttemptRecord.job_id)
        ).all()
    return {job_id: int(count) for job_id, count in rows}


# --- a TCP proxy the tests can cut ------------------------------------------------------------


class TcpProxy:
    """A TCP proxy on 127.0.0.1 in front of a real server: the database going away for real.

    ``cut()`` closes every open connection and refuses new ones (accepted, then closed at
    once: what a client sees of a server that went down); ``restore()`` forwards again.
    ``connections`` counts the connections clients opened, cut or not.
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.connections = 0
        self._cut = False
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept_loop, name="tcp-proxy", daemon=True)
        self._acceptor.start()

    def cut(self) -> None:
        with self._lock:
            self._cut = True
            sockets, self._open = self._open, []
        for sock in sockets:
            _close(sock)

    def restore(self) -> None:
        with self._lock:
            self._cut = False

    def close(self) -> None:
        self.cut()
        # Closing a listening socket does not wake accept(); shutting it down does.
        _close(self._listener)
        self._acceptor.join()

    def _accept_loop(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                self.connections += 1
                cut = self._cut
            if cut:
                _close(client)
                continue
            try:
                upstream = socket.create_connection(self.upstream)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._open += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, target), daemon=True).start()


def _pump(source: socket.socket, target: socket.socket) -> None:
    with suppress(OSError):
        while data := source.recv(65536):
            target.sendall(data)
    _close(source)
    _close(target)


def _close(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv or accept on it
    sock.close()


class Outage:
    """The audit log's database failing on demand: ``url`` is where the app records.

    PostgreSQL: the app connects through a :class:`TcpProxy`, and ``cut()`` cuts it.
    SQLite (a file, no server to stop): ``cut()`` takes the jobs table away, which every
    write of the log touches, so each write fails inside its transaction.
    """

    def __init__(self, database_url: str, engine: Engine) -> None:
        self.engine = engine
        self.proxy: TcpProxy | None = None
        self.url = database_url
        if not database_url.startswith("sqlite"):
            server = make_url(database_url)
            self.proxy = TcpProxy((server.host or "127.0.0.1", server.port or 5432))
            self.url = via_port(database_url, self.proxy.port)

    def cut(self) -> None:
        if self.proxy is not None:
            self.proxy.cut()
            return
        with self.engine.begin() as connection:
            connection.execute(text("ALTER TABLE elasticjobs_jobs RENAME TO away_jobs"))

    def restore(self) -> None:
        if self.proxy is not None:
            self.proxy.restore()
            return
        with self.engine.begin() as connection:
            connection.execute(text("ALTER TABLE away_jobs RENAME TO elasticjobs_jobs"))

    def close(self) -> None:
        if self.proxy is not None:
            self.proxy.close()


@contextlib.contextmanager
def log_locked(engine: Engine) -> Iterator[None]:
    """Hold a lock that every write of the audit log waits for (a migration, an operator's
    long transaction): the jobs table locked on PostgreSQL, the database file on SQLite."""
    flush_all()  # job events are written behind
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.begin()
            connection.execute(text("LOCK TABLE elasticjobs_jobs IN EXCLUSIVE MODE"))
        try:
            yield
        finally:
            connection.rollback()


def unreachable_url(database_url: str, tmp_path: Path) -> str:
    """Where no audit database can be reached: a port nobody listens on, or a SQLite file in
    a directory that does not exist."""
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'missing' / 'audit.sqlite'}"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return via_port(database_url, port)


# --- jobs of these tests ----------------------------------------------------------------------


class Credentials(Schema):
    user = fields.Str(required=True)
    password = fields.Str(required=True)


class Charge(Schema):
    #: The job fails on every attempt before this one (its receive count).
    succeed_on_attempt = fields.Int(load_default=1)


class Order(Schema):
    number = fields.Int(required=True)


def sign_in(ctx: JobContext, user: str, password: str) -> None:
    RUNS.append(ctx.job_id)


def charge(ctx: JobContext, succeed_on_attempt: int) -> None:
    RUNS.append(ctx.job_id)
    if ctx.attempt < succeed_on_attempt:
        raise ConnectionError(f"the payment provider did not answer attempt {ctx.attempt}")


def rolls_back(ctx: JobContext, number: int) -> None:
    """Writes an order in the app's own database (through the request's transaction), then
    fails: pyramid_tm rolls the order back."""
    RUNS.append(ctx.job_id)
    app_database = ctx.request.registry.settings["test.app_database"]
    AppDatabase(app_database).join(ctx.request.tm).insert_order(number)
    raise ValueError(f"order {number} is out of stock")


def commit_fails(ctx: JobContext) -> None:
    """Returns, but its transaction cannot commit (a before-commit hook raises)."""
    RUNS.append(ctx.job_id)

    def refuse() -> None:
        raise RuntimeError("the database refused the commit")

    ctx.request.tm.get().addBeforeCommitHook(refuse)


def look_at_own_row(ctx: JobContext) -> None:
    """Records what the audit log says about this job while it runs."""
    from pyramid_elasticjobs.audit import get_audit_store

    job = get_audit_store(ctx.registry).job(ctx.job_id)
    RUNS.append(f"{ctx.job_id} {job.state} {job.attempts}" if job else f"{ctx.job_id} missing")


def flaky_report(ctx: JobContext) -> None:
    """A periodic task whose first attempt fails."""
    RUNS.append(ctx.job_id)
    if ctx.attempt == 1:
        raise TimeoutError("the report database was busy")


def add_audit_jobs(config: Configurator) -> None:
    """This module's jobs, beside the sample jobs; pyramid_tm for the transaction tests."""
    config.include("pyramid_tm")
    config.add_job(sign_in, schema=Credentials, redact=("password",))
    config.add_job(charge, schema=Charge, unique=True)
    config.add_job(rolls_back, schema=Order)
    config.add_job(commit_fails)
    config.add_job(look_at_own_row)
    config.add_job(flaky_report, periodic=True)


class AppDatabase:
    """The application's own data, written in the request's transaction as zope.sqlalchemy
    would: committed with it, rolled back with it."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)
        self.connection: Any = None
        self.transaction_manager: Any = None

    def create(self) -> None:
        with self.engine.begin() as connection:
            connection.execute(text("CREATE TABLE app_orders (number INTEGER PRIMARY KEY)"))

    def orders(self) -> list[int]:
        with self.engine.connect() as connection:
            return list(connection.scalars(text("SELECT number FROM app_orders ORDER BY number")))

    def join(self, manager: Any) -> AppDatabase:
        """Take part in the current transaction of ``manager`` (pyramid_tm's request.tm)."""
        self.connection = self.engine.connect()
        self.transaction_manager = manager
        manager.get().join(self)
        return self

    def insert_order(self, number: int) -> None:
        self.connection.execute(text("INSERT INTO app_orders VALUES (:n)"), {"n": number})

    # The transaction package's data manager protocol (IDataManager).
    def abort(self, transaction: Any) -> None:
        self._end(commit=False)

    def tpc_begin(self, transaction: Any) -> None:
        pass

    def commit(self, transaction: Any) -> None:
        pass

    def tpc_vote(self, transaction: Any) -> None:
        pass

    def tpc_finish(self, transaction: Any) -> None:
        self._end(commit=True)

    def tpc_abort(self, transaction: Any) -> None:
        self._end(commit=False)

    def sortKey(self) -> str:  # the protocol's name
        return f"app-database-{id(self)}"

    def _end(self, *, commit: bool) -> None:
        if self.connection is None:
            return
        if commit:
            self.connection.commit()
        else:
            self.connection.rollback()
        self.connection.close()
        self.connection = None
        self.engine.dispose()


# --- requests as the daemon sends them --------------------------------------------------------


def signed_delivery(
    registry: Any, envelope: Envelope, receive_count: int = 1, message_id: str | None = None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of the daemon's POST of ``envelope``, signed with the app's secret."""
    message = signed_message(get_runtime(registry), envelope.to_json(), envelope.name)
    received = {
        "MessageId": message_id or str(uuid.uuid4()),
        "Attributes": {"ApproximateReceiveCount": str(receive_count)},
        "MessageAttributes": {
            name: {"DataType": "String", "StringValue": value}
            for name, value in message.attributes.items()
        },
    }
    headers = daemon_headers(received, envelope.queue, user_agent=USER_AGENT)
    headers["Content-Type"] = "application/json"
    return message.body, headers


def periodic_headers(task: str, scheduled_at: datetime) -> dict[str, str]:
    """The daemon's headers for a ``cron.yaml`` entry (a new message id each time)."""
    return {
        "User-Agent": USER_AGENT,
        "X-Aws-Sqsd-Msgid": str(uuid.uuid4()),
        "X-Aws-Sqsd-Taskname": task,
        "X-Aws-Sqsd-Scheduled-At": scheduled_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }


def daemon_delivers(sqs: Any, app: Any, queue_url: str) -> Any:
    """What aws-sqsd does with one message: receive, POST, and delete it when answered 200."""
    message = receive(sqs, queue_url)
    headers = daemon_headers(message, queue_url.rsplit("/", 1)[-1], user_agent=USER_AGENT)
    response = TestApp(app).post(
        "/",
        message["Body"],
        headers=headers,
        content_type="application/json",
        extra_environ={"REMOTE_ADDR": "127.0.0.1"},
        status="*",
    )
    if response.status_int == 200:
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return response


@contextlib.contextmanager
def engine_for(url: str) -> Iterator[Engine]:
    """An engine of the test's own, disposed after use."""
    from pyramid_elasticjobs.audit.engine import engine_for_url

    engine = engine_for_url(url)
    try:
        yield engine
    finally:
        engine.dispose()
