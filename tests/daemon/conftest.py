"""Fixtures of the daemon tests: a recording app on waitress, daemons, scripted peers, a proxy."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from pyramid_elasticjobs.daemon.daemon import SqsDaemon
from pyramid_elasticjobs.daemon.options import DaemonOptions
from tests.support import REGION

from .support import (
    FaultyProxy,
    RecordingApp,
    Reply,
    ScriptedServer,
    serve,
    start_scripted_server,
    stop_scripted_server,
)


@pytest.fixture
def recording_app() -> RecordingApp:
    return RecordingApp()


@pytest.fixture
def worker_url(recording_app: RecordingApp) -> Iterator[str]:
    """URL of the recording app, served by waitress."""
    with serve(recording_app) as url:
        yield url
        recording_app.gate.set()  # let held requests end, so the server stops at once


@pytest.fixture
def queue_url(make_queue: Callable[..., str]) -> str:
    return make_queue("work")


@pytest.fixture
def make_options(
    sqs_endpoint: str, queue_url: str, worker_url: str
) -> Callable[..., DaemonOptions]:
    """Options for a fast test daemon: 1 s long polls, no summary; keywords override.

    The inactivity timeout stays below the visibility timeout, as the daemon asks.
    """

    def make_options(**overrides: Any) -> DaemonOptions:
        values: dict[str, Any] = {
            "queue": queue_url,
            "region": REGION,
            "endpoint_url": sqs_endpoint,
            "worker_url": worker_url,
            "wait_time_seconds": 1,
            "visibility_timeout": 30,
            "inactivity_timeout": 20,
            "summary_interval": 0,
            "http_connections": 5,
        }
        values.update(overrides)
        return DaemonOptions(**values)

    return make_options


@pytest.fixture
def start_daemon(make_options: Callable[..., DaemonOptions]) -> Iterator[Callable[..., SqsDaemon]]:
    """Start a daemon with ``make_options(**overrides)``; every one is stopped at the end."""
    daemons: list[SqsDaemon] = []

    def start_daemon(now: Callable[[], datetime] | None = None, **overrides: Any) -> SqsDaemon:
        daemon = SqsDaemon(make_options(**overrides), now=now)
        daemons.append(daemon)
        daemon.start()
        return daemon

    yield start_daemon
    for daemon in daemons:
        daemon.stop(timeout=5)


@pytest.fixture
def serve_script() -> Iterator[Callable[[list[Reply]], ScriptedServer]]:
    """Start a scripted HTTP peer on a free loopback port; all are stopped at the end."""
    servers: list[ScriptedServer] = []

    def serve_script(replies: list[Reply]) -> ScriptedServer:
        server = start_scripted_server(replies)
        servers.append(server)
        return server

    yield serve_script
    for server in servers:
        stop_scripted_server(server)


@pytest.fixture
def sqs_proxy(sqs_endpoint: str) -> Iterator[FaultyProxy]:
    """A proxy in front of moto that the test can cut off (see FaultyProxy)."""
    proxy = FaultyProxy(sqs_endpoint)
    yield proxy
    proxy.close()
