"""The daemon's other end: a recording WSGI app on a real waitress server, and a daemon factory."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from webtest.http import StopableWSGIServer

from pyramid_elasticjobs.daemon.daemon import SqsDaemon
from pyramid_elasticjobs.daemon.options import DaemonOptions
from tests.support import REGION

#: Longest a test waits for something to happen before it fails.
PATIENCE = 15.0


def wait_until(condition: Callable[[], Any], timeout: float = PATIENCE, what: str = "") -> Any:
    """Poll ``condition`` until it is truthy; fail the test (or return it falsy) at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result or time.monotonic() > deadline:
            assert result or not what, f"timed out after {timeout}s waiting for {what}"
            return result
        time.sleep(0.01)


@dataclass(frozen=True)
class Recorded:
    """One request as the application saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() on arrival


class RecordingApp:
    """Records each request and answers with ``status`` (an int, or a function of the request).

    While ``gate`` is clear, requests wait for it (at most PATIENCE seconds), so a
    test can hold requests in flight; ``max_active`` is the peak of concurrent requests.
    """

    def __init__(self) -> None:
        self.status: int | Callable[[Recorded], int] = 200
        self.requests: list[Recorded] = []
        self.gate = threading.Event()
        self.gate.set()
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        recorded = Recorded(
            method=environ["REQUEST_METHOD"],
            path=environ["PATH_INFO"],
            headers=_headers(environ),
            body=environ["wsgi.input"].read(length),
            at=time.monotonic(),
        )
        with self._lock:
            self.requests.append(recorded)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            self.gate.wait(PATIENCE)
            status = self.status(recorded) if callable(self.status) else self.status
        finally:
            with self._lock:
                self.active -= 1
        start_response(f"{status} Status", [("Content-Length", "0")])
        return []

    def wait_for_requests(self, count: int) -> list[Recorded]:
        wait_until(lambda: len(self.requests) >= count, what=f"{count} request(s) to the app")
        return list(self.requests)


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = {
        key[5:].replace("_", "-").title(): value
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").title()] = environ[key]
    return headers


@pytest.fixture
def recording_app() -> RecordingApp:
    return RecordingApp()


def serve(app: Any) -> Iterator[str]:
    """Serve a WSGI app with waitress on a free loopback port; yield its URL."""
    server = StopableWSGIServer(app, host="127.0.0.1", port=0, threads=8, channel_timeout=60)
    runner = threading.Thread(target=server.run, name="waitress", daemon=True)
    runner.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.shutdown()
    runner.join(PATIENCE)


@pytest.fixture
def worker_url(recording_app: RecordingApp) -> Iterator[str]:
    """URL of the recording app, served by waitress."""
    server = serve(recording_app)
    yield next(server)
    recording_app.gate.set()  # let held requests end, so the server stops at once
    next(server, None)


@pytest.fixture
def queue_url(make_queue: Callable[..., str]) -> str:
    return make_queue("work")


@pytest.fixture
def make_options(
    sqs_endpoint: str, queue_url: str, worker_url: str
) -> Callable[..., DaemonOptions]:
    """Options for a fast test daemon: 1 s long polls, no summary; keywords override."""

    def make_options(**overrides: Any) -> DaemonOptions:
        values: dict[str, Any] = {
            "queue": queue_url,
            "region": REGION,
            "endpoint_url": sqs_endpoint,
            "worker_url": worker_url,
            "wait_time_seconds": 1,
            "visibility_timeout": 30,
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


def send(sqs: Any, queue_url: str, body: str = "{}", **attributes: Any) -> str:
    """Send one message; ``attributes`` maps names to str (String), int (Number) or bytes."""
    message_attributes = {name: _attribute(value) for name, value in attributes.items()}
    message_id: str = sqs.send_message(
        QueueUrl=queue_url, MessageBody=body, MessageAttributes=message_attributes
    )["MessageId"]
    return message_id


def _attribute(value: Any) -> dict[str, Any]:
    if isinstance(value, bytes):
        return {"DataType": "Binary", "BinaryValue": value}
    if isinstance(value, int):
        return {"DataType": "Number", "StringValue": str(value)}
    return {"DataType": "String", "StringValue": value}


def receive_all(sqs: Any, queue_url: str, count: int) -> list[dict[str, Any]]:
    """Receive messages (hiding them for a minute) until ``count`` came or PATIENCE ran out."""
    received: list[dict[str, Any]] = []
    deadline = time.monotonic() + PATIENCE
    while len(received) < count and time.monotonic() < deadline:
        received += sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            VisibilityTimeout=60,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
    return received


def queue_counts(sqs: Any, queue_url: str) -> tuple[int, int]:
    """(visible, in flight) messages of a queue."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
    )
