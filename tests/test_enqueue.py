"""The enqueue side: validate, sign, send, and report only what SQS confirmed."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.stub import Stubber

from pyramid_elasticjobs import (
    BatchEnqueueError,
    EnqueuedJob,
    EnqueueError,
    InvalidDelay,
    InvalidEnqueueOption,
    InvalidJobArguments,
    MessageTooLarge,
    QueueNotFound,
    get_client,
)
from pyramid_elasticjobs.protocol import JOB_ATTRIBUTE, ORIGIN_ATTRIBUTE, SIGNATURE_ATTRIBUTE
from pyramid_elasticjobs.runtime import get_runtime
from pyramid_elasticjobs.signing import Signer

from . import sample_jobs
from .support import SECRET, queue_depths, receive, record_calls, stub_queue_url


def test_enqueue_sends_a_signed_versioned_envelope(app: Any, sqs: Any, make_queue: Any) -> None:
    """The body is the JSON envelope; attributes carry signature, job name and origin marker."""
    enqueued = get_client(app.registry).enqueue(sample_jobs.resize_image, image_id=5)
    message = receive(sqs, make_queue("images"))
    body = json.loads(message["Body"])
    assert body["v"] == 2
    assert body["resent"] == 0
    assert datetime.fromisoformat(body["expires_at"]) - datetime.fromisoformat(
        body["enqueued_at"]
    ) == timedelta(days=14)
    assert (body["job"], body["id"], body["queue"]) == ("resize_image", enqueued.job_id, "images")
    assert body["args"] == {"image_id": 5, "width": 800}
    assert datetime.fromisoformat(body["enqueued_at"]) <= datetime.now(UTC)
    assert body["run_at"] is None
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert set(attributes) == {ORIGIN_ATTRIBUTE, SIGNATURE_ATTRIBUTE, JOB_ATTRIBUTE}
    assert all("_" not in name for name in attributes)
    assert Signer([SECRET]).verify(message["Body"].encode(), attributes[SIGNATURE_ATTRIBUTE])
    assert attributes[JOB_ATTRIBUTE] == "resize_image"
    assert isinstance(enqueued, EnqueuedJob)
    assert (enqueued.message_id, enqueued.queue) == (message["MessageId"], "images")


def test_enqueue_by_name_uses_the_default_queue(app: Any, sqs: Any, make_queue: Any) -> None:
    """A job without a queue goes to elasticjobs.default_queue; jobs can be named by string."""
    enqueued = get_client(app.registry).enqueue("noop")
    assert enqueued.queue == "default"
    assert receive(sqs, make_queue("default"))["MessageId"] == enqueued.message_id


def test_schema_dump_makes_arguments_json(app: Any, sqs: Any, make_queue: Any) -> None:
    """Arguments go through schema load then dump: dates become ISO strings."""
    get_client(app.registry).enqueue("nightly_report", day="2026-11-28")
    body = json.loads(receive(sqs, make_queue("default"))["Body"])
    assert body["args"] == {"day": "2026-11-28", "title": "nightly"}


def test_invalid_arguments_send_nothing(app: Any, sqs: Any, make_queue: Any) -> None:
    """Arguments failing the schema raise, listing each field, and nothing reaches SQS."""
    with pytest.raises(InvalidJobArguments) as raised:
        get_client(app.registry).enqueue("resize_image", width="wide")
    assert set(raised.value.errors) == {"image_id", "width"}
    assert queue_depths(sqs, make_queue("images")) == (0, 0)


def test_missing_queue_names_queue_and_region(make_app: Callable[..., Any]) -> None:
    """A queue that does not exist fails with its name and the region."""
    app = make_app()
    with pytest.raises(QueueNotFound) as raised:
        get_client(app.registry).enqueue("noop")
    assert "default" in str(raised.value)
    assert "us-east-1" in str(raised.value)
    assert raised.value.queue == "default"


def test_queue_url_is_looked_up_once(app: Any) -> None:
    """GetQueueUrl is called once per queue, then cached."""
    lookups = record_calls(app, "GetQueueUrl")
    client = get_client(app.registry)
    for _ in range(3):
        client.enqueue("noop")
    assert len(lookups) == 1


def test_checksum_mismatch_is_not_reported_as_enqueued(app: Any) -> None:
    """An MD5OfMessageBody that does not match the body sent raises, naming the queue."""
    runtime = get_runtime(app.registry)
    with Stubber(runtime.transport.client) as stubber:
        stub_queue_url(stubber, runtime, "default")
        stubber.add_response(
            "send_message", {"MessageId": "m-1", "MD5OfMessageBody": "0" * 32}, None
        )
        with pytest.raises(EnqueueError, match="'default' answered with a checksum"):
            get_client(app.registry).enqueue("noop")


def test_sqs_error_names_the_queue(app: Any) -> None:
    """Any SQS error on send raises EnqueueError naming the queue and saying nothing was sent."""
    runtime = get_runtime(app.registry)
    with Stubber(runtime.transport.client) as stubber:
        stub_queue_url(stubber, runtime, "images")
        stubber.add_client_error("send_message", "KmsThrottled", "slow down", 400)
        with pytest.raises(EnqueueError, match="could not send to SQS queue 'images'") as raised:
            get_client(app.registry).enqueue("resize_image", image_id=1)
    assert "not enqueued" in str(raised.value)


@pytest.mark.parametrize(
    ("options", "delay_seconds", "has_run_at"),
    [
        ({"delay": 120}, 120, False),
        ({"delay": timedelta(minutes=3)}, 180, False),
        ({"delay": 0.2}, 1, False),
        ({"delay": 900}, 900, False),
        ({"delay": 3600}, 900, True),
        ({"delay": timedelta(days=2)}, 900, True),
    ],
)
def test_delays_use_delay_seconds_and_run_at_beyond_15_minutes(
    app: Any,
    sqs: Any,
    make_queue: Any,
    options: dict[str, Any],
    delay_seconds: int,
    has_run_at: bool,
) -> None:
    """Up to 900 s is DelaySeconds; longer delays send 900 s and put run_at in the envelope."""
    sends = record_calls(app, "SendMessage")
    get_client(app.registry).enqueue("noop", **options)
    assert sends[0]["DelaySeconds"] == delay_seconds
    assert queue_depths(sqs, make_queue("default")) == (0, 1)
    body = json.loads(sends[0]["MessageBody"])
    if has_run_at:
        requested = options["delay"]
        seconds = requested.total_seconds() if isinstance(requested, timedelta) else requested
        run_at = datetime.fromisoformat(body["run_at"])
        enqueued_at = datetime.fromisoformat(body["enqueued_at"])
        assert (run_at - enqueued_at).total_seconds() == pytest.approx(seconds, abs=1)
    else:
        assert body["run_at"] is None


def test_run_at_is_converted_to_a_delay(app: Any) -> None:
    """run_at (an aware datetime) becomes the delay left until then, rounded up."""
    sends = record_calls(app, "SendMessage")
    get_client(app.registry).enqueue("noop", run_at=datetime.now(UTC) + timedelta(seconds=300))
    assert 299 <= sends[0]["DelaySeconds"] <= 300


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"delay": -5}, "not a non-negative number"),
        ({"delay": float("nan")}, "not a non-negative number"),
        ({"run_at": datetime(2030, 1, 1)}, "has no time zone"),
        ({"delay": 5, "run_at": datetime(2030, 1, 1, tzinfo=UTC)}, "either delay or run_at"),
    ],
)
def test_impossible_delays_are_refused(app: Any, options: dict[str, Any], fragment: str) -> None:
    """Negative, NaN, naive or doubly-specified delays raise InvalidDelay before sending."""
    with pytest.raises(InvalidDelay, match=fragment):
        get_client(app.registry).enqueue("noop", **options)


def test_fifo_queue_gets_group_and_deduplication_ids(
    make_app: Callable[..., Any], make_queue: Any, sqs: Any
) -> None:
    """On .fifo queues the group id defaults to the job name and dedup id to the job id."""
    url = make_queue("orders.fifo")
    app = make_app(**{"elasticjobs.default_queue": "orders.fifo"})
    client = get_client(app.registry)
    first = client.enqueue("noop")
    second = client.enqueue("noop", group_id="customer-7", dedup_id="order-7")
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])[
        "Messages"
    ]
    seen = {
        m["MessageId"]: (
            m["Attributes"]["MessageGroupId"],
            m["Attributes"]["MessageDeduplicationId"],
        )
        for m in messages
    }
    assert seen == {
        first.message_id: ("noop", first.job_id),
        second.message_id: ("customer-7", "order-7"),
    }


def test_fifo_queue_refuses_a_delay(make_app: Callable[..., Any], make_queue: Any) -> None:
    """A per-message delay on a FIFO queue is a clear error, not an SQS rejection."""
    make_queue("orders.fifo")
    app = make_app(**{"elasticjobs.default_queue": "orders.fifo"})
    with pytest.raises(InvalidDelay, match="FIFO queue, which refuses per-message delays"):
        get_client(app.registry).enqueue("noop", delay=10)


def test_dedup_id_on_a_standard_queue_is_refused(app: Any) -> None:
    """dedup_id only makes sense on FIFO queues: an option error, not a delay error."""
    with pytest.raises(InvalidEnqueueOption, match="dedup_id only applies to FIFO") as raised:
        get_client(app.registry).enqueue("noop", dedup_id="x")
    assert not isinstance(raised.value, InvalidDelay)


def test_oversized_message_is_refused_before_sending(
    make_app: Callable[..., Any], make_queue: Any, sqs: Any
) -> None:
    """Body plus attributes over max_message_bytes raises with the size and the limit."""
    url = make_queue("default")
    app = make_app(**{"elasticjobs.max_message_bytes": "1024"})
    sends = record_calls(app, "SendMessage")
    with pytest.raises(MessageTooLarge) as raised:
        get_client(app.registry).enqueue("nightly_report", title="x" * 1000)
    assert raised.value.limit == 1024
    assert raised.value.size > 1024
    assert f"is {raised.value.size} bytes, over the limit of 1024" in str(raised.value)
    assert sends == []
    assert queue_depths(sqs, url) == (0, 0)


def test_enqueue_many_sends_batches_of_ten(app: Any, sqs: Any, make_queue: Any) -> None:
    """25 jobs take 3 SendMessageBatch calls and come back in order, all in the queue."""
    batches = record_calls(app, "SendMessageBatch")
    jobs = get_client(app.registry).enqueue_many(
        "resize_image", [{"image_id": n} for n in range(25)]
    )
    assert [len(call["Entries"]) for call in batches] == [10, 10, 5]
    assert len({job.message_id for job in jobs}) == 25
    assert queue_depths(sqs, make_queue("images")) == (25, 0)
    first_body = json.loads(batches[0]["Entries"][0]["MessageBody"])
    assert first_body["args"] == {"image_id": 0, "width": 800}


def test_enqueue_many_validates_everything_first(app: Any, sqs: Any, make_queue: Any) -> None:
    """One invalid entry means nothing is sent; the error names the entry."""
    with pytest.raises(InvalidJobArguments, match="entry 1: image_id") as raised:
        get_client(app.registry).enqueue_many("resize_image", [{"image_id": 1}, {}])
    assert list(raised.value.errors) == ["entry 1"]
    assert queue_depths(sqs, make_queue("images")) == (0, 0)


def test_enqueue_many_reports_partial_failure(app: Any) -> None:
    """Entries SQS refused are listed with their arguments; the accepted ones are returned too."""
    runtime = get_runtime(app.registry)
    client = get_client(app.registry)
    # Jobs ids and timestamps are random, so stub the answer from the bodies about to be sent.
    bodies: list[str] = []
    runtime.transport.client.meta.events.register(
        "provide-client-params.sqs.SendMessageBatch",
        lambda params, **_: bodies.extend(e["MessageBody"] for e in params["Entries"]),
    )
    stubber = Stubber(runtime.transport.client)
    original_send_batch = runtime.transport.send_batch

    def send_batch_with_stubbed_answer(queue: str, messages: Any) -> Any:
        stubber.add_response(
            "send_message_batch",
            {
                "Successful": [
                    {
                        "Id": "0",
                        "MessageId": "m-0",
                        "MD5OfMessageBody": hashlib.md5(
                            messages[0].body, usedforsecurity=False
                        ).hexdigest(),
                    }
                ],
                "Failed": [
                    {"Id": "1", "SenderFault": False, "Code": "InternalError", "Message": "oops"}
                ],
            },
        )
        return original_send_batch(queue, messages)

    runtime.transport.send_batch = send_batch_with_stubbed_answer  # type: ignore[method-assign]
    stub_queue_url(stubber, runtime, "images")
    with stubber, pytest.raises(BatchEnqueueError) as raised:
        client.enqueue_many("resize_image", [{"image_id": n} for n in range(3)])
    error = raised.value
    assert len(bodies) == 3
    assert [job.message_id for job in error.enqueued] == ["m-0"]
    assert [(f.index, f.code) for f in error.failures] == [(1, "InternalError"), (2, "Missing")]
    assert error.failures[0].arguments == {"image_id": 1, "width": 800}
    assert "2 of 3 jobs were not enqueued on queue 'images'" in str(error)


def test_no_aws_client_nor_boto3_at_start_up(settings: dict[str, str]) -> None:
    """Building the app and serving ordinary requests creates no SQS client, nor loads boto3."""
    code = (
        "import sys\n"
        "from pyramid.config import Configurator\n"
        "from webtest import TestApp\n"
        f"config = Configurator(settings={settings!r})\n"
        "config.include('pyramid_elasticjobs')\n"
        "config.add_route('home', '/')\n"
        "config.add_view(lambda request: {}, route_name='home', renderer='json')\n"
        "TestApp(config.make_wsgi_app()).get('/')\n"
        "print('boto3' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_importing_the_core_loads_no_sqlalchemy_or_jinja2() -> None:
    """The core needs only pyramid, marshmallow and boto3."""
    code = (
        "import sys, pyramid_elasticjobs;"
        "print(sorted(m for m in ('sqlalchemy', 'jinja2', 'alembic', 'moto', 'waitress')"
        " if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_client_is_shared_across_threads(app: Any, sqs: Any, make_queue: Any) -> None:
    """Threads enqueueing at once through one lazily created client: all their jobs arrive."""
    client = get_client(app.registry)
    errors: list[Exception] = []

    def work() -> None:
        try:
            for _ in range(5):
                client.enqueue("noop")
        except Exception as error:  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert queue_depths(sqs, make_queue("default")) == (40, 0)


def test_client_uses_standard_retries_and_timeouts(make_app: Callable[..., Any]) -> None:
    """botocore's standard retry mode with the configured attempts and timeouts."""
    app = make_app(
        **{
            "elasticjobs.max_attempts": "4",
            "elasticjobs.connect_timeout": "2",
            "elasticjobs.read_timeout": "7",
        }
    )
    config = get_runtime(app.registry).transport.client.meta.config
    assert config.retries == {"mode": "standard", "total_max_attempts": 4}
    assert (config.connect_timeout, config.read_timeout) == (2, 7)
