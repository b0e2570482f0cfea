"""Shared fixtures: a real SQS (moto's HTTP server), apps built the way users build them."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from pyramid.config import Configurator
from webtest import TestApp

from pyramid_elasticjobs.daemon.headers import daemon_headers
from pyramid_elasticjobs.envelope import Envelope
from pyramid_elasticjobs.runtime import get_runtime
from pyramid_elasticjobs.signing import signed_message

from . import sample_jobs
from .support import REGION, SECRET, receive

_CLEARED = ("AWS_REGION", "AWS_DEFAULT_REGION", "ELASTICJOBS_SECRET", "PROCESS_ELASTIC_JOBS")


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials, no instance-metadata lookups, no settings leaking from the shell."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def sqs_endpoint() -> Iterator[str]:
    """moto's SQS HTTP server on a free loopback port, for the whole session."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def sqs(sqs_endpoint: str) -> Any:
    return boto3.client(
        "sqs",
        region_name=REGION,
        endpoint_url=sqs_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def queue_prefix() -> str:
    """A prefix of its own for each test, so tests never see each other's messages."""
    return f"t{uuid.uuid4().hex[:12]}-"


@pytest.fixture
def make_queue(sqs: Any, queue_prefix: str) -> Callable[..., str]:
    def make_queue(name: str, **attributes: str) -> str:
        full_name = queue_prefix + name
        if name.endswith(".fifo"):
            attributes.setdefault("FifoQueue", "true")
        url: str = sqs.create_queue(QueueName=full_name, Attributes=attributes)["QueueUrl"]
        return url

    return make_queue


@pytest.fixture
def settings(sqs_endpoint: str, queue_prefix: str) -> dict[str, str]:
    return {
        "elasticjobs.secret": SECRET,
        "elasticjobs.aws_region": REGION,
        "elasticjobs.endpoint_url": sqs_endpoint,
        "elasticjobs.queue_prefix": queue_prefix,
        "elasticjobs.process_jobs": "true",
        "elasticjobs.max_attempts": "1",
    }


@pytest.fixture
def ran() -> Iterator[list[tuple[str, Any, dict[str, Any]]]]:
    """The runs of the sample jobs during this test."""
    sample_jobs.RUNS.clear()
    yield sample_jobs.RUNS
    sample_jobs.RUNS.clear()


@pytest.fixture
def make_app(settings: dict[str, str]) -> Callable[..., Any]:
    """Build a WSGI app that includes pyramid_elasticjobs and scans the sample jobs."""

    def make_app(configure: Callable[[Configurator], None] | None = None, **overrides: str) -> Any:
        with Configurator(settings={**settings, **overrides}) as config:
            config.include("pyramid_elasticjobs")
            config.scan(sample_jobs)
            config.add_route("home", "/")
            config.add_view(lambda request: {"app": "home"}, route_name="home", renderer="json")
            if configure is not None:
                configure(config)
        return config.make_wsgi_app()

    return make_app


@pytest.fixture
def app(make_app: Callable[..., Any], make_queue: Callable[..., str]) -> Any:
    make_queue("default")
    make_queue("images")
    return make_app()


@pytest.fixture
def deliver(sqs: Any) -> Callable[..., Any]:
    """Receive one message and POST it to the app as aws-sqsd would (through WebTest)."""

    def deliver(app: Any, queue_url: str, status: int | str = "*", **header_overrides: str) -> Any:
        message = receive(sqs, queue_url)
        headers = daemon_headers(message, queue_url.rsplit("/", 1)[-1])
        headers.update(header_overrides)
        return TestApp(app).post(
            "/",
            message["Body"],
            headers=headers,
            content_type="application/json",
            extra_environ={"REMOTE_ADDR": "127.0.0.1"},
            status=status,
        )

    return deliver


@pytest.fixture
def send_raw(sqs: Any) -> Callable[..., str]:
    """Put an exact body and attributes into a queue, bypassing enqueue's checks."""

    def send_raw(queue_url: str, body: bytes, attributes: dict[str, str]) -> str:
        message_id: str = sqs.send_message(
            QueueUrl=queue_url,
            MessageBody=body.decode(),
            MessageAttributes={
                name: {"DataType": "String", "StringValue": value}
                for name, value in attributes.items()
            },
        )["MessageId"]
        return message_id

    return send_raw


@pytest.fixture
def send_envelope(send_raw: Callable[..., str]) -> Callable[..., str]:
    """Sign an envelope made by the test with the app's secret and put it in a queue."""

    def send_envelope(app: Any, queue_url: str, envelope: Envelope) -> str:
        message = signed_message(get_runtime(app.registry), envelope.to_json(), envelope.name)
        return send_raw(queue_url, message.body, dict(message.attributes))

    return send_envelope
