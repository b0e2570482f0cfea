"""``elasticjobs cron check``: a cron.yaml against the application that will receive it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pyramid_elasticjobs.exceptions import ConfigurationError

from .app import CONFIG_HELP, CommandError, app_settings, fail, loaded_app, setup_logging

_DESCRIPTION = """\
Check a cron.yaml (default: the one next to the ini file, or
elasticjobs.sqsd.cron_path) as Elastic Beanstalk reads it and against the
application: version 1, every schedule a 5-field cron expression (UTC), unique
names, every name a registered job declared @job(periodic=True) whose schema's
defaults load, every url the application's elasticjobs.periodic_tasks_route.

Exit status: 0 when every entry would run, 1 when one would not, 2 for a usage
error.
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "cron",
        help="check cron.yaml against the application's periodic jobs",
        description="Periodic tasks (cron.yaml).",
    )
    commands = parser.add_subparsers(dest="cron_command", metavar="CRON_COMMAND", required=True)
    check = commands.add_parser(
        "check",
        help="check that every cron.yaml entry would run",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("config_uri", metavar="INI", help=CONFIG_HELP)
    check.add_argument(
        "cron_path",
        nargs="?",
        metavar="CRON_YAML",
        help="the cron.yaml to check (default: next to INI, or elasticjobs.sqsd.cron_path)",
    )
    check.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Imported here: cron.yaml needs PyYAML and croniter (the 'local' extra); main()
    # names the extra when one is missing.
    from pyramid_elasticjobs.daemon.cron_check import check_cron, read_cron
    from pyramid_elasticjobs.doctor.findings import Status
    from pyramid_elasticjobs.doctor.local import cron_path, periodic_job_findings
    from pyramid_elasticjobs.runtime import get_runtime

    try:
        setup_logging(args.config_uri)
        if args.cron_path:
            path, source = Path(args.cron_path), "the CRON_YAML argument"
        else:
            path, source = cron_path(args.config_uri, app_settings(args.config_uri))
        if not path.is_file():
            raise CommandError(
                f"no cron.yaml at {str(path)!r} ({source}); give its path as CRON_YAML"
            )
        tasks = read_cron(path, source)
        with loaded_app(args.config_uri) as registry:
            problems = check_cron(tasks, registry, str(path))
            scheduled = {task.name for task in tasks}
            problems += [
                f"{path}: entry {finding.check.removeprefix('periodic job ')!r}: {finding.message}"
                for finding in periodic_job_findings(get_runtime(registry))
                if finding.status is Status.FAIL
                and finding.check.removeprefix("periodic job ") in scheduled
            ]
    except CommandError as error:
        return fail("cron check", error.message, error.status)
    except ConfigurationError as error:
        # cron.yaml itself is wrong (YAML, schedule, duplicate name): a failed check.
        print(f"FAIL  {error}")
        return 1
    for problem in problems:
        print(f"FAIL  {problem}")
    if problems:
        return 1
    print(f"OK    {len(tasks)} task(s) in {path}: each runs a periodic job on the periodic route")
    return 0
