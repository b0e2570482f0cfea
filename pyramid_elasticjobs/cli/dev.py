"""``elasticjobs dev``: SQS, the application and its daemons in one process, on loopback."""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import botocore.exceptions
from pyramid.exceptions import ConfigurationError as PyramidConfigurationError

# hosts.py needs nothing of the 'local' extra, so --help works without it.
from pyramid_elasticjobs.devstack.hosts import ALLOW_HOST_OPTION, ALLOWED_HOSTS_KEY
from pyramid_elasticjobs.exceptions import ConfigurationError
from pyramid_elasticjobs.runtime import get_runtime

from .signals import run_until_signalled, wait_for_stop

if TYPE_CHECKING:
    from pyramid_elasticjobs.devstack import DevStack

DEFAULT_PORT = 6543
#: moto accepts any credentials, but boto3 will not sign without some and would first
#: probe the EC2 metadata service for them: an embedded SQS gets placeholders.
PLACEHOLDER_CREDENTIALS: Mapping[str, str] = {
    "AWS_ACCESS_KEY_ID": "elasticjobs-dev",
    "AWS_SECRET_ACCESS_KEY": "elasticjobs-dev",
    "AWS_EC2_METADATA_DISABLED": "true",
}

_DESCRIPTION = """\
Run, in this process and on 127.0.0.1 only: an embedded SQS (moto) when
elasticjobs.endpoint_url is a loopback URL such as http://127.0.0.1:0 (port 0 = any
free port), the application's queues with their dead-letter queues (redrive after
elasticjobs.max_receive_count receives), the application under waitress, and one
local aws-sqsd per queue (elasticjobs.sqsd.* options). With no endpoint_url, the
real SQS of elasticjobs.aws_region is used.

Periodic tasks: the cron.yaml next to the ini file (as Elastic Beanstalk reads the
one at the root of the bundle), or elasticjobs.sqsd.cron_path, drives the default
queue; each entry must name a job declared with @job(periodic=True) and use the
url elasticjobs.periodic_tasks_route, else the stack does not start.

Both servers answer only requests for the hosts 127.0.0.1, localhost and [::1]
(any port), so that no web page can reach them through DNS rebinding; --allow-host
(or elasticjobs.dev.allowed_hosts) adds names.

Ctrl-C or SIGTERM stops it all gracefully: the daemons stop receiving and let
running jobs finish, then the web server and SQS stop; a second signal exits at
once. Exit status: 0 after a graceful stop, 2 for a configuration error, 1 if SQS
cannot be reached or after a second signal.
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "dev",
        help="run the app, an embedded SQS and the daemons together, on loopback",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "config_uri",
        nargs="?",
        default="development.ini",
        metavar="CONFIG_URI",
        help="ini file (or file.ini#name) of the application (default: development.ini)",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="loopback address to serve the application on (default: 127.0.0.1)",
    )
    parser.add_argument(
        "--port",
        type=int,
        help=f"port of the application (default: the port of [server:main], else "
        f"{DEFAULT_PORT}; 0 = any free port)",
    )
    parser.add_argument(
        ALLOW_HOST_OPTION,
        dest="allowed_hosts",
        action="append",
        default=[],
        metavar="HOST",
        help="also answer requests for this Host (a name such as myapp.test, any port); "
        f"repeat for more, '*' for any host [ini: {ALLOWED_HOSTS_KEY}, separated by spaces]",
    )
    parser.add_argument(
        "--no-embedded-sqs",
        dest="embedded_sqs",
        action="store_false",
        help="do not start moto: use the SQS server already listening at "
        "elasticjobs.endpoint_url (which then needs a real port)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run until SIGINT or SIGTERM; see the exit statuses in the description."""
    return run_until_signalled("dev", lambda stop_requested: _serve(args, stop_requested))


def _serve(args: argparse.Namespace, stop_requested: threading.Event) -> int:
    from pyramid.paster import setup_logging

    # Imported here: the stack needs the 'local' extra (moto, waitress, croniter, PyYAML),
    # `elasticjobs --help` does not; main() reports a missing one.
    from pyramid_elasticjobs.devstack import DevStack
    from pyramid_elasticjobs.devstack.stack import loopback_host

    try:
        # Checked before logging is set up, so a mistake does not reconfigure logging.
        _check_config_file(args.config_uri)
        loopback_host(args.host)
        setup_logging(args.config_uri)
        port = args.port if args.port is not None else server_port(args.config_uri)
        stack = DevStack.from_config_uri(
            args.config_uri,
            host=args.host,
            port=port,
            embedded_sqs=args.embedded_sqs,
            allowed_hosts=args.allowed_hosts,
        )
        if stack.runs_embedded_sqs:
            for name, value in PLACEHOLDER_CREDENTIALS.items():
                os.environ.setdefault(name, value)
        stack.start()
    except PyramidConfigurationError as error:  # ours too: a subclass
        # Pyramid wraps errors raised at commit; the original says what to fix.
        return _fail(str(getattr(error, "evalue", error)), 2)
    except LookupError as error:  # paste: no such section or app
        return _fail(f"cannot load the application of {args.config_uri!r}: {error}", 2)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        return _fail(
            f"cannot reach SQS: {error}; check elasticjobs.endpoint_url, "
            "elasticjobs.aws_region and your AWS credentials",
            1,
        )
    print(format_table(describe(stack, args.config_uri)), flush=True)
    wait_for_stop(stop_requested)
    print("elasticjobs dev: stopping (running jobs may finish)...", flush=True)
    stack.stop()
    print("elasticjobs dev: stopped", flush=True)
    return 0


def _check_config_file(config_uri: str) -> None:
    path = config_uri.partition("#")[0]
    if not os.path.isfile(path):
        raise ConfigurationError(
            f"config file {path!r} not found; give the path of an ini file such as "
            "development.ini (elasticjobs dev CONFIG_URI)"
        )


def server_port(config_uri: str) -> int:
    """The port of ``[server:main]`` (``port = N`` or ``listen = host:N``), else 6543."""
    import plaster  # type: ignore[import-untyped]  # no type hints published

    settings = plaster.get_settings(config_uri.partition("#")[0], "server:main")
    port = settings.get("port")
    if port is None and settings.get("listen"):
        port = settings["listen"].split()[0].rpartition(":")[2]
    try:
        return int(port) if port else DEFAULT_PORT
    except ValueError:
        raise ConfigurationError(
            f"[server:main] of {config_uri!r} has no usable port ({port!r}); give --port"
        ) from None


def describe(stack: DevStack, config_uri: str) -> list[tuple[str, str, str]]:
    """(what, name, where) rows: everything the stack runs, for the start-up table."""
    region = get_runtime(stack.registry).settings.aws_region
    if stack.runs_embedded_sqs:
        sqs = ("SQS", stack.sqs_endpoint or "", "embedded moto, in memory")
    else:
        sqs = ("SQS", stack.sqs_endpoint or f"AWS ({region})", "")
    threads = stack.server.threads if stack.server else 0
    rows = [
        ("config", config_uri, ""),
        ("application", stack.app_url + "/", f"waitress, {threads} threads"),
        sqs,
    ]
    for queue in stack.queues:
        rows.append(("queue", queue.sqs_name, queue.url))
        rows.append(
            (
                "dead letters",
                queue.dead_letter_name,
                f"after {queue.max_receive_count} receives",
            )
        )
    for name, daemon in stack.daemons.items():
        options = daemon.options
        rows.append(
            (
                "daemon",
                name,
                f"{options.http_connections} connections -> "
                f"{options.worker_url}{options.http_path}",
            )
        )
        rows.extend(
            ("cron", task.name, f"{task.schedule} (UTC) -> {task.url}") for task in daemon.tasks
        )
    rows.append(("cron.yaml", stack.cron_path or "none", stack.cron_source))
    hosts = ", ".join(("127.0.0.1", "localhost", "[::1]", *stack.allowed_hosts))
    rows.append(("hosts", hosts, f"any other Host header is refused; see {ALLOW_HOST_OPTION}"))
    return rows


def format_table(rows: Sequence[tuple[str, str, str]]) -> str:
    widths = [max(len(row[column]) for row in rows) for column in range(2)]
    lines = [
        f"  {what:<{widths[0]}}  {name:<{widths[1]}}  {where}".rstrip()
        for what, name, where in rows
    ]
    return "\n".join(["elasticjobs dev", *lines, "Ctrl-C stops everything."])


def _fail(message: str, status: int) -> int:
    print(f"elasticjobs dev: error: {message}", file=sys.stderr)
    return status
