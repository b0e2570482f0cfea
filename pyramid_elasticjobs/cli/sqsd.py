"""``elasticjobs sqsd``: run the local stand-in for Elastic Beanstalk's SQS daemon."""

from __future__ import annotations

import argparse
import configparser
import dataclasses
import logging
import os
import sys
import threading
from typing import Any

import botocore.exceptions

from pyramid_elasticjobs.daemon.defaults import RANGES
from pyramid_elasticjobs.daemon.options import (
    SETTINGS_PREFIX,
    DaemonOptions,
    accepted_range,
    flag,
    options_from_settings,
)
from pyramid_elasticjobs.exceptions import ConfigurationError

from .signals import run_until_signalled, wait_for_stop

#: option -> (command-line metavar, help text); range, ini key and default are appended.
_OPTIONS: dict[str, tuple[str, str]] = {
    "queue": (
        "NAME|URL",
        "SQS queue to poll, by name or URL (default: the application's "
        "elasticjobs.queue_prefix + elasticjobs.default_queue)",
    ),
    "region": ("REGION", "AWS region of the queue (default: elasticjobs.aws_region, AWS_REGION)"),
    "endpoint_url": (
        "URL",
        "SQS endpoint, e.g. http://127.0.0.1:5000 for moto (default: elasticjobs.endpoint_url; "
        "unset = AWS)",
    ),
    "worker_url": ("URL", "http://host:port of the application"),
    "http_path": ("PATH", "path the messages are POSTed to"),
    "mime_type": ("TYPE", "Content-Type of the POSTs"),
    "http_connections": ("N", "maximum number of concurrent POSTs"),
    "connect_timeout": (
        "SECONDS",
        "wait this long for a connection to the application (and to SQS)",
    ),
    "inactivity_timeout": (
        "SECONDS",
        "abandon a request when the application stays silent this long; the message is "
        "delivered again after its visibility timeout",
    ),
    "visibility_timeout": (
        "SECONDS",
        "a received message stays hidden from other consumers this long",
    ),
    "error_visibility_timeout": (
        "SECONDS",
        "a message answered with anything but 200 is retried after this long",
    ),
    "max_retries": (
        "N",
        "receives before SQS moves a message to the dead-letter queue: the queue's "
        "maxReceiveCount (this daemon warns when they differ)",
    ),
    "cron_path": ("PATH", "cron.yaml with periodic tasks, sent into the queue when due (UTC)"),
    "wait_time_seconds": ("SECONDS", "length of each ReceiveMessage long poll"),
    "summary_interval": ("SECONDS", "log a summary line this often; 0 = never"),
    "user_agent": ("TEXT", "User-Agent of the POSTs"),
}

_DESCRIPTION = """\
Poll an SQS queue and POST each message to the application, as aws-sqsd does on an
Elastic Beanstalk worker environment: exactly 200 deletes the message, any other
status retries it after the error visibility timeout, no answer retries it after
the visibility timeout. SIGINT/SIGTERM stop gracefully: running requests may finish,
undispatched messages are released, and an open long poll is not waited for.

With CONFIG_URI (e.g. development.ini), every option's default comes from the
[app:main] key elasticjobs.sqsd.<option> (e.g. elasticjobs.sqsd.http_connections),
and the logging sections of the file apply.
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sqsd",
        help="run a local aws-sqsd: poll an SQS queue, POST each message to the app",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "config_uri",
        nargs="?",
        metavar="CONFIG_URI",
        help="ini file whose [app:main] settings give the defaults (e.g. development.ini)",
    )
    defaults = {field.name: field.default for field in dataclasses.fields(DaemonOptions)}
    for option, (metavar, text) in _OPTIONS.items():
        default = defaults[option]
        shown = "" if default is dataclasses.MISSING or default is None else f"; default: {default}"
        accepted = f", {accepted_range(option)}" if option in RANGES else ""
        parser.add_argument(
            flag(option),
            dest=option,
            metavar=metavar,
            help=f"{text}{accepted} [ini: {SETTINGS_PREFIX}{option}{shown}]",
        )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run until SIGINT or SIGTERM; 0 after a graceful stop, 2 for bad options, 1 if SQS fails.

    A second signal during the graceful stop exits at once (status 1): requests
    still running keep their messages until the visibility timeout.
    """
    return run_until_signalled("sqsd", lambda stop_requested: _serve(args, stop_requested))


def _serve(args: argparse.Namespace, stop_requested: threading.Event) -> int:
    # Imported here: the daemon needs croniter and PyYAML, `elasticjobs --help` does not.
    from pyramid_elasticjobs.daemon.daemon import SqsDaemon

    try:
        settings = _load_settings(args.config_uri)
        options = options_from_settings(
            settings, {option: getattr(args, option) for option in _OPTIONS}, os.environ
        )
        daemon = SqsDaemon(options)
        daemon.start()
    except ConfigurationError as error:
        return _fail(str(error), 2)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        return _fail(f"cannot reach SQS: {error}; check --endpoint-url and --region", 1)
    wait_for_stop(stop_requested)
    daemon.stop()
    return 0


def _load_settings(config_uri: str | None) -> dict[str, Any]:
    if not config_uri:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s [%(name)s] %(message)s"
        )
        return {}
    import plaster  # type: ignore[import-untyped]  # no type hints published
    from pyramid.paster import setup_logging

    try:
        setup_logging(config_uri)
        return dict(plaster.get_settings(config_uri, "app:main"))
    except (plaster.PlasterError, configparser.Error, OSError, LookupError, ValueError) as error:
        raise ConfigurationError(
            f"cannot read [app:main] from {config_uri!r} ({error}); give an ini file such as "
            "development.ini"
        ) from None


def _fail(message: str, status: int) -> int:
    print(f"elasticjobs sqsd: error: {message}", file=sys.stderr)
    return status
