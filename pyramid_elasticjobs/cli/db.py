"""``elasticjobs db``: the audit log's schema (alembic) and its retention, from an ini file."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyramid_elasticjobs.exceptions import ConfigurationError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from pyramid_elasticjobs.audit.settings import AuditSettings

_DESCRIPTION = """\
Manage the audit log's database: the one named by elasticjobs.audit.url in the ini
file's application section (the ELASTICJOBS_AUDIT_URL environment variable wins).
Its tables are prefixed elasticjobs_ and its alembic history lives in the table
elasticjobs_alembic_version, so it can share a database with the application.

Exit status: 0 on success, 1 if the database fails, 2 for a usage or
configuration error.
"""

#: The argument every subcommand takes first.
CONFIG_HELP = "ini file (or file.ini#name) whose application section configures the audit log"


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "db",
        help="create, upgrade, downgrade or prune the audit log's database",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="db_command", metavar="DB_COMMAND", required=True)

    upgrade = commands.add_parser(
        "upgrade",
        help="create the tables, or migrate them up to REVISION (default: head)",
        description="Create the audit log's tables, or migrate them up to REVISION.",
    )
    upgrade.add_argument("config_uri", metavar="CONFIG_URI", help=CONFIG_HELP)
    upgrade.add_argument(
        "revision", nargs="?", default="head", help="revision to reach (default: head)"
    )
    upgrade.set_defaults(run=run, action=_upgrade)

    downgrade = commands.add_parser(
        "downgrade",
        help="migrate down to REVISION ('base' removes every table but the version table)",
        description="Migrate the audit log down to REVISION. 'base' drops every audit table "
        "(and all records) and keeps only the empty version table.",
    )
    downgrade.add_argument("config_uri", metavar="CONFIG_URI", help=CONFIG_HELP)
    downgrade.add_argument("revision", help="revision to reach, or 'base'")
    downgrade.set_defaults(run=run, action=_downgrade)

    current = commands.add_parser(
        "current",
        help="print the database's revision and the newest one this version ships",
        description="Print the revision the database is at, and the head revision of the "
        "migrations shipped with this version of pyramid_elasticjobs.",
    )
    current.add_argument("config_uri", metavar="CONFIG_URI", help=CONFIG_HELP)
    current.set_defaults(run=run, action=_current)

    prune = commands.add_parser(
        "prune",
        help="delete records older than elasticjobs.audit.retention_days, in batches",
        description="Delete finished jobs, attempts, periodic runs, operator actions and "
        "dead-letter snapshots older than the retention period. Unfinished jobs are kept. "
        "Each batch is its own short transaction, so writers never wait long.",
    )
    prune.add_argument("config_uri", metavar="CONFIG_URI", help=CONFIG_HELP)
    prune.add_argument(
        "--days",
        type=_positive("--days"),
        help="keep this many days (default: elasticjobs.audit.retention_days, else 30)",
    )
    prune.add_argument(
        "--batch",
        type=_positive("--batch"),
        help="rows per transaction (default: elasticjobs.audit.prune_batch, else 5000)",
    )
    prune.add_argument(
        "--dry-run",
        action="store_true",
        help="only count what would be deleted",
    )
    prune.set_defaults(run=run, action=_prune)


def main(argv: Sequence[str] | None = None) -> int:
    """``elasticjobs db ...`` with ``argv`` after ``db``; returns the exit status."""
    from . import main as elasticjobs

    return elasticjobs(["db", *(sys.argv[1:] if argv is None else argv)])


def run(args: argparse.Namespace) -> int:
    """Load the ini's audit settings, then run the chosen subcommand on their database."""
    from pyramid.paster import get_appsettings, setup_logging
    from sqlalchemy.exc import SQLAlchemyError

    from pyramid_elasticjobs.audit.engine import create_audit_engine
    from pyramid_elasticjobs.audit.settings import parse_audit_settings

    name = f"db {args.db_command}"
    path = args.config_uri.partition("#")[0]
    if not os.path.isfile(path):
        return _fail(
            name,
            f"config file {path!r} not found; give the path of an ini file such as "
            f"development.ini (elasticjobs {name} CONFIG_URI)",
            2,
        )
    try:
        setup_logging(args.config_uri)
        settings = parse_audit_settings(get_appsettings(args.config_uri), os.environ)
    except ConfigurationError as error:
        return _fail(name, f"{args.config_uri}: {error}", 2)
    except LookupError as error:  # paste: no such section or app
        return _fail(
            name, f"cannot read the application settings of {args.config_uri!r}: {error}", 2
        )
    action: Callable[[Engine, AuditSettings, argparse.Namespace], int] = args.action
    try:
        with _engine(create_audit_engine(settings)) as engine:
            return action(engine, settings, args)
    except _RevisionError as error:
        return _fail(name, str(error), 2)
    except SQLAlchemyError as error:
        return _fail(
            name,
            f"the audit database {settings.safe_url} failed: {_first_line(error)}; check "
            "elasticjobs.audit.url (or ELASTICJOBS_AUDIT_URL) and that the database is up",
            1,
        )


def _upgrade(engine: Engine, settings: AuditSettings, args: argparse.Namespace) -> int:
    from pyramid_elasticjobs.audit import migrate

    _sqlite_folder(engine)
    with _revisions():
        migrate.upgrade(engine, args.revision)
    print(f"audit log at revision {_describe(engine)} ({settings.safe_url})")
    return 0


def _downgrade(engine: Engine, settings: AuditSettings, args: argparse.Namespace) -> int:
    from pyramid_elasticjobs.audit import migrate

    with _revisions():
        migrate.downgrade(engine, args.revision)
    print(f"audit log at revision {_describe(engine)} ({settings.safe_url})")
    return 0


def _current(engine: Engine, settings: AuditSettings, args: argparse.Namespace) -> int:
    from pyramid_elasticjobs.audit import migrate

    print(f"current: {_describe(engine)}")
    print(f"head:    {migrate.head_revision(engine)}")
    return 0


def _prune(engine: Engine, settings: AuditSettings, args: argparse.Namespace) -> int:
    from pyramid_elasticjobs.audit.store import AuditStore

    days = args.days if args.days is not None else settings.retention_days
    batch = args.batch if args.batch is not None else settings.prune_batch
    before = datetime.now(UTC) - timedelta(days=days)
    store = AuditStore(engine)
    total = store.prunable(before)
    older = f"older than {days} days (before {before:%Y-%m-%d %H:%M} UTC)"
    if args.dry_run:
        print(f"{total} record(s) {older} would be deleted (dry run: nothing deleted)")
        return 0
    deleted = batches = 0
    with _progress(total) as advance:
        for count in store.prune(before, batch):
            deleted += count
            batches += 1
            advance(count)
    print(f"deleted {deleted} record(s) {older} in {batches} batch(es) of at most {batch}")
    return 0


@contextmanager
def _progress(total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr (drawn live on a terminal only); yields ``advance(rows)``."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("pruning"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        # prunable() counted before the first batch; rows that age meanwhile are deleted too,
        # so the total grows with them rather than the bar running past 100%.
        task = progress.add_task("pruning", total=total)

        def advance(rows: int) -> None:
            done = progress.tasks[0].completed + rows
            if done > (progress.tasks[0].total or 0):
                progress.update(task, total=done)
            progress.update(task, completed=done)

        yield advance


class _RevisionError(Exception):
    """A revision argument that the shipped migrations do not know."""


@contextmanager
def _revisions() -> Iterator[None]:
    from alembic.util.exc import CommandError

    try:
        yield
    except CommandError as error:
        raise _RevisionError(
            f"{_first_line(error)}; run `elasticjobs db current CONFIG_URI` for the "
            "revisions (or give 'head' or 'base')"
        ) from None


@contextmanager
def _engine(engine: Engine) -> Iterator[Engine]:
    try:
        yield engine
    finally:
        engine.dispose()


def _describe(engine: Engine) -> str:
    from pyramid_elasticjobs.audit import migrate

    current = migrate.current_revision(engine)
    if current is None:
        return "none (no audit tables: run `elasticjobs db upgrade CONFIG_URI`)"
    return f"{current} (head)" if current == migrate.head_revision(engine) else current


def _sqlite_folder(engine: Engine) -> None:
    """Create the folder of a SQLite file: the first upgrade creates the database itself."""
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def _positive(option: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise argparse.ArgumentTypeError(f"{option} takes a whole number >= 1, not {text!r}")
        return value

    return parse


def _first_line(error: BaseException) -> str:
    # SQLAlchemy appends the SQL and a link on further lines; the first one says what failed.
    original = getattr(error, "orig", None)
    text = str(original if original is not None else error).strip()
    kind = type(original if original is not None else error).__name__
    return f"{kind}: {text.splitlines()[0] if text else 'no message'}"


def _fail(name: str, message: str, status: int) -> int:
    print(f"elasticjobs {name}: error: {message}", file=sys.stderr)
    return status
