"""``elasticjobs db``: the real command on real databases (SQLite files, and PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, insert, inspect, select, text
from sqlalchemy.engine import make_url

from pyramid_elasticjobs.audit import migrate
from pyramid_elasticjobs.audit.engine import engine_for_url
from pyramid_elasticjobs.audit.models import (
    ActionRecord,
    AttemptRecord,
    DeadLetterRecord,
    JobRecord,
    PeriodicRunRecord,
)
from pyramid_elasticjobs.cli import main

ROOT = Path(__file__).resolve().parents[1]
POSTGRESQL_VARIABLE = "ELASTICJOBS_TEST_POSTGRESQL_URL"
AUDIT_TABLES = {
    "elasticjobs_jobs",
    "elasticjobs_attempts",
    "elasticjobs_dead_letters",
    "elasticjobs_actions",
    "elasticjobs_rollups",
    "elasticjobs_periodic_runs",
}
NOW = datetime.now(UTC)


@pytest.fixture(autouse=True)
def no_audit_url_from_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ELASTICJOBS_AUDIT_URL", raising=False)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of this test's own: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        # A folder that does not exist yet: `db upgrade` creates it.
        yield f"sqlite:///{tmp_path}/var/audit.sqlite"
        return
    server = os.environ.get(POSTGRESQL_VARIABLE)
    if not server:
        message = (
            f"{POSTGRESQL_VARIABLE} is not set: start a PostgreSQL (source .ci/run && "
            f"start_postgresql /tmp/pg && export {POSTGRESQL_VARIABLE}) to run this test"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    name = f"elasticjobs_cli_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def write_ini(tmp_path: Path) -> Callable[..., str]:
    """An ini file whose [app:main] carries ``elasticjobs.*`` settings; returns its path."""

    def write_ini(**settings: str) -> str:
        path = tmp_path / "app.ini"
        lines = ["[app:main]", "use = call:tests.e2e.app:main"]
        lines += [f"elasticjobs.{key} = {value}" for key, value in settings.items()]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return str(path)

    return write_ini


@pytest.fixture
def ini(write_ini: Callable[..., str], database_url: str) -> str:
    return write_ini(**{"audit.url": database_url})


def tables(url: str) -> set[str]:
    engine = engine_for_url(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def revision(url: str) -> str | None:
    engine = engine_for_url(url)
    try:
        return migrate.current_revision(engine)
    finally:
        engine.dispose()


def head() -> str | None:
    engine = engine_for_url("sqlite://")
    return migrate.head_revision(engine)


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    """The command's stderr, checked to be exactly one line; returned for its content."""
    error = capsys.readouterr().err
    assert error.endswith("\n"), error
    assert error.count("\n") == 1, error
    return error


def test_upgrade_creates_every_audit_table_at_the_head_revision(
    ini: str, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`db upgrade INI` creates the tables (and a SQLite file's folder) at head."""
    status = main(["db", "upgrade", ini])

    assert status == 0
    assert tables(database_url) == AUDIT_TABLES | {migrate.VERSION_TABLE}
    assert revision(database_url) == head()
    assert f"at revision {head()} (head)" in capsys.readouterr().out


def test_current_prints_the_current_and_the_head_revision(
    ini: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before any upgrade the current revision is none; after it, the head."""
    assert main(["db", "upgrade", ini, "base"]) == 0  # just the (empty) version table
    capsys.readouterr()

    assert main(["db", "current", ini]) == 0
    before = capsys.readouterr().out.splitlines()
    main(["db", "upgrade", ini])
    capsys.readouterr()
    main(["db", "current", ini])
    after = capsys.readouterr().out.splitlines()

    assert before[0].startswith("current: none (no audit tables")
    assert before[1] == f"head:    {head()}"
    assert after == [f"current: {head()} (head)", f"head:    {head()}"]


def test_downgrade_to_base_removes_every_table_but_the_version_table(
    ini: str, database_url: str
) -> None:
    """`db downgrade INI base` leaves only elasticjobs_alembic_version, with no revision."""
    assert main(["db", "upgrade", ini]) == 0
    insert_records(database_url, [finished_job("kept-until-downgrade", NOW)])

    status = main(["db", "downgrade", ini, "base"])

    assert status == 0
    assert tables(database_url) == {migrate.VERSION_TABLE}
    assert revision(database_url) is None
    assert main(["db", "upgrade", ini]) == 0  # and back up, from nothing
    assert tables(database_url) == AUDIT_TABLES | {migrate.VERSION_TABLE}


def test_the_environment_variable_wins_over_the_ini_url(
    write_ini: Callable[..., str],
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ELASTICJOBS_AUDIT_URL names the database the command works on, not the ini's URL."""
    ini_database = tmp_path / "from-ini.sqlite"
    ini = write_ini(**{"audit.url": f"sqlite:///{ini_database}"})
    monkeypatch.setenv("ELASTICJOBS_AUDIT_URL", database_url)

    assert main(["db", "upgrade", ini]) == 0

    assert revision(database_url) == head()
    assert not ini_database.exists()


# -- prune ---------------------------------------------------------------------------


def finished_job(job_id: str, at: datetime, **fields: Any) -> tuple[Any, dict[str, Any]]:
    row = {
        "job_id": job_id,
        "name": "send_welcome_email",
        "queue": "default",
        "state": "succeeded",
        "arguments": {"user_id": 1},
        "created_at": at,
        "updated_at": at,
        "finished_at": at,
        "attempts": 1,
        **fields,
    }
    return JobRecord, row


def attempt(job_id: str, at: datetime) -> tuple[Any, dict[str, Any]]:
    return AttemptRecord, {
        "job_id": job_id,
        "receive_count": 1,
        "started_at": at,
        "finished_at": at,
        "duration": 0.01,
        "outcome": "succeeded",
        "status": 200,
        "host": "test",
        "pid": 1,
    }


def insert_records(url: str, records: list[tuple[Any, dict[str, Any]]]) -> None:
    engine = engine_for_url(url)
    try:
        with engine.begin() as connection:
            for model, row in records:
                connection.execute(insert(model).values(**row))
    finally:
        engine.dispose()


def remaining(url: str) -> dict[str, set[Any]]:
    """What is left in each table, by key."""
    engine = engine_for_url(url)
    try:
        with engine.connect() as connection:
            return {
                "jobs": set(connection.scalars(select(JobRecord.job_id))),
                "attempts": set(connection.scalars(select(AttemptRecord.job_id))),
                "periodic": set(connection.scalars(select(PeriodicRunRecord.task))),
                "actions": set(connection.scalars(select(ActionRecord.action))),
                "dead_letters": set(connection.scalars(select(DeadLetterRecord.message_id))),
            }
    finally:
        engine.dispose()


def aged_records(days: int) -> list[tuple[Any, dict[str, Any]]]:
    """Records on both sides of ``days`` ago, in every prunable table, named old-* and new-*."""
    old, new = NOW - timedelta(days=days, hours=1), NOW - timedelta(days=days, hours=-1)
    records: list[tuple[Any, dict[str, Any]]] = []
    for prefix, at in (("old", old), ("new", new)):
        for number in range(3):
            job_id = f"{prefix}-{number}"
            records += [finished_job(job_id, at), attempt(job_id, at)]
        records.append(
            (
                PeriodicRunRecord,
                {"task": f"{prefix}-task", "scheduled_at": at, "job_id": "x", "succeeded_at": at},
            )
        )
        records.append((ActionRecord, {"at": at, "actor": "ops", "action": f"{prefix}-redrive"}))
        records.append(
            (
                DeadLetterRecord,
                {
                    "dead_letter_queue": "default-dead-letters",
                    "message_id": f"{prefix}-message",
                    "body": "{}",
                    "receive_count": 10,
                    "first_seen_at": at,
                    "last_seen_at": at,
                },
            )
        )
    # Unfinished long ago (still enqueued or running): never pruned.
    records.append(finished_job("old-unfinished", old, state="running", finished_at=None))
    return records


NEWER = {
    "jobs": {"new-0", "new-1", "new-2", "old-unfinished"},
    "attempts": {"new-0", "new-1", "new-2"},
    "periodic": {"new-task"},
    "actions": {"new-redrive"},
    "dead_letters": {"new-message"},
}


def test_prune_deletes_exactly_the_records_older_than_the_retention_period(
    write_ini: Callable[..., str], database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """retention_days from the ini, in batches of 2: finished old rows go, the rest stay."""
    ini = write_ini(**{"audit.url": database_url, "audit.retention_days": "10"})
    assert main(["db", "upgrade", ini]) == 0
    insert_records(database_url, aged_records(10))
    capsys.readouterr()

    status = main(["db", "prune", ini, "--batch", "2"])

    assert status == 0
    assert remaining(database_url) == NEWER
    # 3 jobs + 3 attempts + 1 periodic run + 1 action + 1 dead letter
    assert "deleted 9 record(s) older than 10 days" in capsys.readouterr().out


def test_prune_days_overrides_the_ini_and_dry_run_deletes_nothing(
    ini: str, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """--dry-run counts what --days 5 would delete and leaves every row in place."""
    assert main(["db", "upgrade", ini]) == 0
    insert_records(database_url, aged_records(5))
    before = remaining(database_url)
    capsys.readouterr()

    status = main(["db", "prune", ini, "--days", "5", "--dry-run"])

    assert status == 0
    assert remaining(database_url) == before
    assert capsys.readouterr().out.startswith("9 record(s) older than 5 days")


def test_prune_with_the_default_retention_keeps_younger_records(
    ini: str, database_url: str
) -> None:
    """Without retention_days the default (30 days) applies: 10-day-old records stay."""
    assert main(["db", "upgrade", ini]) == 0
    insert_records(database_url, aged_records(10))
    before = remaining(database_url)

    assert main(["db", "prune", ini]) == 0

    assert remaining(database_url) == before


# -- errors: one line, the right status --------------------------------------------------


def test_no_audit_url_is_a_configuration_error_naming_the_key(
    write_ini: Callable[..., str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 2 and one line naming elasticjobs.audit.url and the environment variable."""
    status = main(["db", "upgrade", write_ini()])

    assert status == 2
    error = one_line_error(capsys)
    assert error.startswith("elasticjobs db upgrade: error: ")
    assert "elasticjobs.audit.url (or the ELASTICJOBS_AUDIT_URL environment variable)" in error


@pytest.mark.parametrize(
    ("key", "value"),
    [("audit.retention_days", "a month"), ("audit.prune_batch", "5"), ("audit.url", "mysql://x")],
)
def test_a_bad_audit_setting_is_a_configuration_error_naming_the_key(
    write_ini: Callable[..., str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    key: str,
    value: str,
) -> None:
    """Exit 2, one line naming the faulty key."""
    settings = {"audit.url": f"sqlite:///{tmp_path}/a.sqlite", key: value}

    status = main(["db", "prune", write_ini(**settings)])

    assert status == 2
    assert f"elasticjobs.{key}" in one_line_error(capsys)


def test_a_missing_ini_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 2, one line naming the file."""
    status = main(["db", "current", str(tmp_path / "nowhere.ini")])

    assert status == 2
    assert "nowhere.ini' not found" in one_line_error(capsys)


def test_an_unknown_revision_is_a_usage_error(ini: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Exit 2, one line naming the revision and how to list them."""
    status = main(["db", "upgrade", ini, "nosuchrevision"])

    assert status == 2
    error = one_line_error(capsys)
    assert "'nosuchrevision'" in error
    assert "elasticjobs db current" in error


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////nonexistent-folder-elasticjobs/audit.sqlite",
        "postgresql+psycopg://nobody@127.0.0.1:9/audit",  # a closed loopback port
    ],
)
def test_an_unreachable_database_fails_with_one_line_and_status_1(
    write_ini: Callable[..., str], url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 1, one line naming the database (password hidden) and the setting to check."""
    status = main(["db", "current", write_ini(**{"audit.url": url})])

    assert status == 1
    error = one_line_error(capsys)
    assert make_url(url).render_as_string(hide_password=True) in error
    assert "check elasticjobs.audit.url" in error


@pytest.mark.parametrize("command", ["upgrade", "downgrade", "current", "prune"])
def test_each_subcommand_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`elasticjobs db COMMAND --help` describes it and exits 0."""
    with pytest.raises(SystemExit) as exited:
        main(["db", command, "--help"])

    assert exited.value.code == 0
    assert f"usage: elasticjobs db {command} " in capsys.readouterr().out


def test_the_installed_command_upgrades_prunes_and_downgrades_in_subprocesses(
    write_ini: Callable[..., str], database_url: str
) -> None:
    """python -m pyramid_elasticjobs.cli db ...: each step's status, output and effect."""
    ini = write_ini(**{"audit.url": database_url})
    insert_later = aged_records(30)

    def run(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pyramid_elasticjobs.cli", "db", *arguments],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
            env={k: v for k, v in os.environ.items() if k != "ELASTICJOBS_AUDIT_URL"},
        )

    upgraded = run("upgrade", ini)
    assert (upgraded.returncode, upgraded.stderr) == (0, "")
    insert_records(database_url, insert_later)
    pruned = run("prune", ini)
    current = run("current", ini)
    downgraded = run("downgrade", ini, "base")

    assert pruned.returncode == 0, pruned.stderr
    assert "deleted 9 record(s) older than 30 days" in pruned.stdout
    assert current.stdout.splitlines()[0] == f"current: {head()} (head)"
    assert downgraded.returncode == 0, downgraded.stderr
    assert tables(database_url) == {migrate.VERSION_TABLE}
