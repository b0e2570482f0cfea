"""``DevStack``: SQS, the application and one daemon per queue, started and stopped together."""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import os
import threading
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pyramid.paster import get_appsettings

from pyramid_elasticjobs.daemon.daemon import SqsDaemon
from pyramid_elasticjobs.daemon.options import SETTINGS_PREFIX as SQSD_PREFIX
from pyramid_elasticjobs.daemon.options import DaemonOptions, options_from_settings
from pyramid_elasticjobs.exceptions import ConfigurationError
from pyramid_elasticjobs.runtime import get_runtime
from pyramid_elasticjobs.settings import ENVIRONMENT_OVERRIDES

from .app_server import AppServer
from .apps import paste_app_factory
from .embedded_sqs import EmbeddedSQS
from .queues import ProvisionedQueue, app_queues, provision_queues

if TYPE_CHECKING:
    from wsgiref.types import WSGIApplication

    from pyramid.registry import Registry

log = logging.getLogger(__name__)

ENDPOINT_KEY = "elasticjobs.endpoint_url"
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
    default queue's). :meth:`stop` undoes it in reverse order. Use it as a context manager.

    ``daemon_overrides`` win over the ``elasticjobs.sqsd.*`` settings (see
    :func:`~pyramid_elasticjobs.daemon.options_from_settings`).
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
        threads: int = 8,
    ) -> None:
        self.host = loopback_host(host)
        self.port = port
        self.threads = threads
        self.daemon_overrides = dict(daemon_overrides or {})
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
        """A stack for the ``[app:main]`` (or ``file.ini#name``) of a PasteDeploy ini file."""
        settings = get_appsettings(config_uri)
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
            self.sqs = EmbeddedSQS(*self._embedded_address)
        self.app = app = self._build_app({ENDPOINT_KEY: self.sqs.url} if self.sqs else {})
        runtime = get_runtime(self.registry)
        if self.sqs and embedded_address(runtime.settings.endpoint_url) != self.sqs.address:
            raise ConfigurationError(
                f"the application sends to {runtime.settings.endpoint_url!r}, not to the "
                f"embedded SQS at {self.sqs.url}: the {ENVIRONMENT_OVERRIDES['endpoint_url']} "
                "environment variable overrides the ini; unset it"
            )
        self.queues = provision_queues(
            runtime.transport.client, runtime.settings, app_queues(self.registry)
        )
        self.server = AppServer(app, self.host, self.port, self.threads)
        self.server.start()
        for queue, options in self._daemon_options().items():
            daemon = SqsDaemon(options)
            daemon.start()
            self.daemons[queue] = daemon

    def _daemon_options(self) -> dict[str, DaemonOptions]:
        runtime = get_runtime(self.registry)
        settings = self.registry.settings
        overrides = {
            **self.daemon_overrides,
            "queue": self.queues[0].url,
            "worker_url": self.app_url,
            "endpoint_url": self.sqs_endpoint,
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

    def stop(self, timeout: float | None = None) -> None:
        """Stop the daemons (in-flight requests finish), then waitress, then SQS. Idempotent."""
        # Together: each waits for its own long poll and in-flight requests.
        stopping = [
            threading.Thread(target=daemon.stop, args=(timeout,), name=f"stop-sqsd-{queue}")
            for queue, daemon in self.daemons.items()
        ]
        for thread in stopping:
            thread.start()
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
