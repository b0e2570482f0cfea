"""``DevStack``: SQS, the application and one daemon per queue, started and stopped together."""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import boto3
from pyramid.paster import get_appsettings

from pyramid_elasticjobs.daemon.cron_check import check_cron, read_cron
from pyramid_elasticjobs.daemon.daemon import SqsDaemon
from pyramid_elasticjobs.daemon.options import SETTINGS_PREFIX as SQSD_PREFIX
from pyramid_elasticjobs.daemon.options import DaemonOptions, options_from_settings
from pyramid_elasticjobs.exceptions import ConfigurationError
from pyramid_elasticjobs.runtime import get_runtime
from pyramid_elasticjobs.settings import ENVIRONMENT_OVERRIDES

from .app_server import BROWSER_THREADS, MIN_THREADS, AppServer
from .apps import paste_app_factory
from .embedded_sqs import EmbeddedSQS
from .hosts import ALLOWED_HOSTS_KEY, HostCheck, parse_allowed_hosts
from .queues import ProvisionedQueue, app_queues, provision_queues

if TYPE_CHECKING:
    from wsgiref.types import WSGIApplication

    from pyramid.registry import Registry

log = logging.getLogger(__name__)

ENDPOINT_KEY = "elasticjobs.endpoint_url"
REGION_KEY = "elasticjobs.aws_region"
CRON_KEY = SQSD_PREFIX + "cron_path"
#: Nothing proxies to the app the stack serves: its peer is the real client. waitress
#: deletes forwarding headers, so without this the worker would refuse the daemons.
REMOTE_ADDR_KEY = "elasticjobs.remote_addr_is_client"
#: Elastic Beanstalk reads cron.yaml from the root of the bundle, next to the ini here.
CRON_FILE_NAME = "cron.yaml"
#: Builds the application from settings overrides (the embedded SQS's real URL).
AppFactory = Callable[[Mapping[str, str]], "WSGIApplication"]


def loopback_host(host: str) -> str:
    """``localhost`` -> ``127.0.0.1``; any other name or a non-loopback address is refused."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None or address.version != 4 or not address.is_loopback:
        raise ConfigurationError(
            f"{host!r} is not an IPv4 loopback address; the local stack only listens on "
            "loopback (127.0.0.1), since it has no authentication of its own"
        )
    return host


def embedded_address(endpoint_url: str | None) -> tuple[str, int] | None:
    """Where to run the embedded SQS for this endpoint URL: None unless it is on loopback."""
    if not endpoint_url:
        return None
    parts = urlsplit(endpoint_url)
    try:
        host = loopback_host(parts.hostname or "")
    except ConfigurationError:
        return None
    if parts.scheme != "http" or parts.port is None:
        raise ConfigurationError(
            f"{ENDPOINT_KEY} = {endpoint_url!r}: a local SQS endpoint needs http and an "
            "explicit port, e.g. http://127.0.0.1:0 (0 = any free port)"
        )
    return host, parts.port


def _app_builder(app_factory: AppFactory | None, app: WSGIApplication | None) -> AppFactory:
    if app_factory is not None and app is None:
        return app_factory
    if app is not None and app_factory is None:
        # It ignores the overrides: DevStack refuses the one case where they matter.
        return lambda overrides: app
    raise TypeError("give exactly one of app_factory and app")


class DevStack:
    """Everything ``elasticjobs dev`` runs, in this process, on loopback only.

    In :meth:`start`, in this order: moto's SQS server when ``elasticjobs.endpoint_url``
    is a loopback URL (port 0 = any free port; with no endpoint, real AWS is used), the
    application (built now, so it learns the real SQS URL), its queues with their
    dead-letter queues, waitress, then one daemon per queue (``cron.yaml`` goes to the
    default queue's, after a check against the application's jobs). :meth:`stop` undoes
    it in reverse order. Use it as a context manager.

    ``daemon_overrides`` win over the ``elasticjobs.sqsd.*`` settings (see
    :func:`~pyramid_elasticjobs.daemon.options_from_settings`). ``default_cron_path``
    is used when ``elasticjobs.sqsd.cron_path`` is not set. Both servers answer only
    requests for a loopback host name or one of ``allowed_hosts`` (added to
    ``elasticjobs.dev.allowed_hosts``). ``threads=None`` gives waitress a thread per
    daemon connection and a few for the browser. The application is built with
    ``elasticjobs.remote_addr_is_client = true`` unless its settings set that key:
    the daemons connect straight to waitress.
    """

    def __init__(
        self,
        settings: Mapping[str, Any],
        *,
        app_factory: AppFactory | None = None,
        app: WSGIApplication | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        embedded_sqs: bool = True,
        daemon_overrides: Mapping[str, Any] | None = None,
        threads: int | None = None,
        allowed_hosts: Iterable[str] = (),
        default_cron_path: str | None = None,
    ) -> None:
        self.host = loopback_host(host)
        self.port = port
        self.threads = threads
        self.settings = dict(settings)
        self.daemon_overrides = dict(daemon_overrides or {})
        self.allowed_hosts = (
            *parse_allowed_hosts(settings.get(ALLOWED_HOSTS_KEY), ALLOWED_HOSTS_KEY),
            *parse_allowed_hosts(allowed_hosts, "allowed_hosts"),
        )
        self.cron_path, self.cron_source = _cron_path(
            self.settings, self.daemon_overrides, default_cron_path
        )
        self._build_app = _app_builder(app_factory, app)
        self._endpoint = os.environ.get(ENVIRONMENT_OVERRIDES["endpoint_url"]) or str(
            settings.get(ENDPOINT_KEY) or ""
        )
        address = embedded_address(self._endpoint)
        self._embedded_address = address if embedded_sqs else None
        if address and address[1] == 0 and not embedded_sqs:
            raise ConfigurationError(
                f"{ENDPOINT_KEY} = {self._endpoint!r} means 'an embedded SQS on any free port', "
                "which --no-embedded-sqs turns off; give the port of the SQS server to use"
            )
        if app is not None and self._embedded_address and self._embedded_address[1] == 0:
            raise ConfigurationError(
                "an application built beforehand cannot learn the port of an embedded SQS "
                f"started later ({ENDPOINT_KEY} = {self._endpoint!r}); pass app_factory "
                "instead of app, or give a fixed port"
            )
        self.app: WSGIApplication | None = app
        self.sqs: EmbeddedSQS | None = None
        self.server: AppServer | None = None
        self.queues: list[ProvisionedQueue] = []
        self.daemons: dict[str, SqsDaemon] = {}

    @classmethod
    def from_config_uri(cls, config_uri: str, **options: Any) -> DevStack:
        """A stack for the ``[app:main]`` (or ``file.ini#name``) of a PasteDeploy ini file.

        A ``cron.yaml`` next to the ini file drives the periodic tasks unless
        ``elasticjobs.sqsd.cron_path`` says otherwise, as Elastic Beanstalk reads the
        one at the root of the bundle.
        """
        settings = get_appsettings(config_uri)
        beside = Path(config_uri.partition("#")[0]).resolve().parent / CRON_FILE_NAME
        if beside.is_file():
            options.setdefault("default_cron_path", str(beside))
        return cls(settings, app_factory=paste_app_factory(config_uri), **options)

    # -- what runs where --------------------------------------------------------------

    @property
    def registry(self) -> Registry:
        """The application's registry (Pyramid's router, or a middleware, exposes it)."""
        registry: Registry | None = getattr(self.app, "registry", None)
        if registry is None:
            raise ConfigurationError(
                f"the application {self.app!r} has no 'registry' attribute; serve the Pyramid "
                "router itself, or give the outermost middleware a 'registry' attribute"
            )
        return registry

    @property
    def app_url(self) -> str:
        if self.server is None:
            raise RuntimeError("the stack is not started")
        return self.server.url

    @property
    def runs_embedded_sqs(self) -> bool:
        """True when :meth:`start` runs moto's SQS server in this process."""
        return self._embedded_address is not None

    @property
    def sqs_endpoint(self) -> str | None:
        """The SQS endpoint everything uses; None means AWS's own."""
        return self.sqs.url if self.sqs else self._endpoint or None

    # -- life cycle -------------------------------------------------------------------

    def start(self) -> DevStack:
        """Start everything; on any failure stop what was started, then raise."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        if self._embedded_address:
            self.sqs = EmbeddedSQS(*self._embedded_address, allowed_hosts=self.allowed_hosts)
        self.app = app = self._build_app(self._app_overrides())
        runtime = get_runtime(self.registry)
        if self.sqs and embedded_address(runtime.settings.endpoint_url) != self.sqs.address:
            raise ConfigurationError(
                f"the application sends to {runtime.settings.endpoint_url!r}, not to the "
                f"embedded SQS at {self.sqs.url}: the {ENVIRONMENT_OVERRIDES['endpoint_url']} "
                "environment variable overrides the ini; unset it"
            )
        if not runtime.settings.remote_addr_is_client:
            log.warning(
                "%s is false: the worker will refuse the daemons' requests, since waitress "
                "removes forwarding headers; remove the line for elasticjobs dev",
                REMOTE_ADDR_KEY,
            )
        if self.sqs:
            _check_region(runtime.settings.aws_region, _region_source(self.settings))
        self.queues = provision_queues(
            runtime.transport.client, runtime.settings, app_queues(self.registry)
        )
        self.server = AppServer(self.host, self.port)
        options = self._daemon_options()
        if self.sqs:
            for queue_options in options.values():
                if queue_options.region != runtime.settings.aws_region:
                    _check_region(queue_options.region, SQSD_PREFIX + "region")
        self._check_cron()
        connections = sum(queue_options.http_connections for queue_options in options.values())
        threads = self.threads or max(MIN_THREADS, connections + BROWSER_THREADS)
        self.server.start(HostCheck(app, self.allowed_hosts), threads)
        for queue, queue_options in options.items():
            daemon = SqsDaemon(queue_options)
            daemon.start()
            self.daemons[queue] = daemon

    def _app_overrides(self) -> dict[str, str]:
        overrides = {ENDPOINT_KEY: self.sqs.url} if self.sqs else {}
        if REMOTE_ADDR_KEY not in self.settings:
            overrides[REMOTE_ADDR_KEY] = "true"
        return overrides

    def _daemon_options(self) -> dict[str, DaemonOptions]:
        runtime = get_runtime(self.registry)
        settings = self.registry.settings
        overrides = {
            **self.daemon_overrides,
            "queue": self.queues[0].url,
            "worker_url": self.app_url,
            "endpoint_url": self.sqs_endpoint,
            "cron_path": self.cron_path,
        }
        if SQSD_PREFIX + "max_retries" not in settings:
            # SQS's redrive policy decides when to give up; the daemon's count agrees with it.
            overrides.setdefault("max_retries", runtime.settings.max_receive_count)
        base = options_from_settings(settings, overrides, os.environ)
        default_queue = runtime.settings.default_queue
        return {
            queue.name: dataclasses.replace(
                base,
                queue=queue.url,
                cron_path=base.cron_path if queue.name == default_queue else None,
            )
            for queue in self.queues
        }

    def _check_cron(self) -> None:
        """Refuse a cron.yaml whose tasks would fail into the dead-letter queue."""
        if not self.cron_path:
            return
        tasks = read_cron(self.cron_path, self.cron_source)
        problems = check_cron(tasks, self.registry, self.cron_path)
        if problems:
            raise ConfigurationError(
                f"{len(problems)} problem(s) in {self.cron_path} ({self.cron_source}); each "
                "would fail every run of its task into the dead-letter queue:\n"
                + "\n".join(f"  - {problem}" for problem in problems)
            )

    def stop(self, timeout: float | None = None) -> None:
        """Stop the daemons (in-flight requests finish), then waitress, then SQS. Idempotent."""
        # Together: each waits for its own long poll and in-flight requests.
        stopping = [
            threading.Thread(target=daemon.stop, args=(timeout,), name=f"stop-sqsd-{queue}")
            for queue, daemon in self.daemons.items()
        ]
        for thread in stopping:
            thread.start()
        if self.sqs is not None:
            # The daemons' long polls would otherwise hold them for up to 20 s.
            self.sqs.release_waiting_polls()
        for thread in stopping:
            thread.join()
        self.daemons.clear()
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self.sqs is not None:
            self.sqs.stop()
            self.sqs = None

    def __enter__(self) -> DevStack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _cron_path(
    settings: Mapping[str, Any], overrides: Mapping[str, Any], default: str | None
) -> tuple[str | None, str]:
    """The cron.yaml the default queue's daemon uses, and what chose it (for messages)."""
    if overrides.get("cron_path") is not None:
        return str(overrides["cron_path"]), "the daemon's cron_path option"
    if CRON_KEY in settings:
        # options_from_settings refuses an empty value, saying how to fix it.
        return str(settings[CRON_KEY]).strip() or None, CRON_KEY
    if default:
        return default, f"found next to the ini file; set {CRON_KEY} to use another"
    return None, f"not set: no {CRON_FILE_NAME} next to the ini file, no {CRON_KEY}"


@functools.cache
def known_regions() -> frozenset[str]:
    """Every region botocore knows for SQS, in every partition: the regions moto serves."""
    session = boto3.session.Session()
    return frozenset(
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("sqs", partition_name=partition)
    )


def _check_region(region: str, key: str) -> None:
    # moto answers a region it does not know with a 500 and a long traceback, retried.
    if region not in known_regions():
        raise ConfigurationError(
            f"{key} = {region!r} is not an AWS region, so the embedded SQS (moto) cannot "
            "serve it; give a region such as us-east-1 or eu-west-1"
        )


def _region_source(settings: Mapping[str, Any]) -> str:
    """The setting that gave the application its region (environment variables win)."""
    variable = ENVIRONMENT_OVERRIDES["aws_region"]
    if os.environ.get(variable):
        return variable
    if not str(settings.get(REGION_KEY) or "").strip() and os.environ.get("AWS_DEFAULT_REGION"):
        return "AWS_DEFAULT_REGION"
    return REGION_KEY
