"""``elasticjobs doctor``: find the misconfigurations that make jobs fail, before deploying."""

from __future__ import annotations

import argparse
import os
from typing import Any

from pyramid_elasticjobs.doctor import Report
from pyramid_elasticjobs.doctor import local as checks
from pyramid_elasticjobs.doctor.findings import fail, warn

from .app import (
    CONFIG_HELP,
    CommandError,
    app_settings,
    loaded_app,
    server_settings,
    setup_logging,
)
from .app import fail as fail_command

_DESCRIPTION = """\
Check an application's configuration for what makes jobs fail on Elastic Beanstalk:
the secret (present, long enough, a sane rotation list), the processing flag,
region, endpoint, trusted networks, the periodic-task route and every other
elasticjobs.* setting; how the app is served ([server:main]: waitress or gunicorn,
and whether elasticjobs.remote_addr_is_client fits it); that every periodic job
loads its own defaults; the cron.yaml next to the ini file (or
elasticjobs.sqsd.cron_path); the dashboard's access settings; the audit log's
database (reachable, at the head revision).

Nothing here calls AWS. With --aws it also asks SQS, with calls that change
nothing: each queue exists, has a redrive policy to a dead-letter queue that keeps
messages longer than the queue, a visibility timeout above the daemon's
InactivityTimeout, and which of the SQS permissions the jobs need are missing.

Each finding is one line: OK, WARN (works, but read it) or FAIL, with the fix.
Exit status: 0 when nothing fails (warnings allowed), 1 when a check fails, 2 for
a usage error.
"""

#: Loading the app must not change anything: no migration of the audit database.
_SIDE_EFFECT_FREE = {"elasticjobs.audit.auto_upgrade": "false"}


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check settings, serving, jobs, cron.yaml (and with --aws, the queues)",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("config_uri", metavar="INI", help=CONFIG_HELP)
    parser.add_argument(
        "--aws",
        action="store_true",
        help="also check the queues in SQS (read-only calls, with the credentials at hand)",
    )
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        report = diagnose(args.config_uri, aws=args.aws)
    except CommandError as error:
        return fail_command("doctor", error.message, error.status)
    print(report.to_json() if args.json else report.table())
    return 1 if report.failed else 0


def diagnose(config_uri: str, *, aws: bool) -> Report:
    """Every finding about the application of ``config_uri``."""
    setup_logging(config_uri)
    settings = app_settings(config_uri)
    environ = dict(os.environ)
    report = Report()
    report.extend(checks.settings_findings(settings, environ))
    report.extend(checks.serving_findings(settings, environ, server_settings(config_uri)))
    report.extend(checks.audit_findings(settings, environ))
    try:
        with loaded_app(config_uri, _SIDE_EFFECT_FREE) as registry:
            _application_findings(report, config_uri, settings, environ, registry, aws=aws)
    except CommandError as error:
        report.extend(
            [fail("application", f"{error.message}; the checks that need it were skipped")]
        )
    except ModuleNotFoundError as error:
        report.extend(
            [
                fail(
                    "application",
                    f"loading it needs the module {error.name!r}, which is not installed; "
                    "install the application's dependencies (and the extras it uses)",
                )
            ]
        )
    return report


def _application_findings(
    report: Report,
    config_uri: str,
    settings: dict[str, Any],
    environ: dict[str, str],
    registry: Any,
    *,
    aws: bool,
) -> None:
    from pyramid_elasticjobs.runtime import get_runtime

    runtime = get_runtime(registry)
    report.extend(checks.periodic_job_findings(runtime))
    path, source = checks.cron_path(config_uri, settings)
    try:
        report.extend(checks.cron_findings(path, source, registry))
    except ModuleNotFoundError as error:
        report.extend(
            [
                warn(
                    "cron.yaml",
                    f"{path} is not checked: that needs the module {error.name!r}; install "
                    "pip install 'pyramid_elasticjobs[local]'",
                )
            ]
        )
    report.extend(checks.dashboard_findings(settings, environ, registry))
    if aws:
        from pyramid_elasticjobs.doctor.aws import aws_findings

        report.extend(aws_findings(runtime, settings))
