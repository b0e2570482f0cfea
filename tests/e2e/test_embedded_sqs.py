"""The embedded SQS: moto made safe for a daemon's concurrent pollers."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import pytest

from pyramid_elasticjobs.devstack.embedded_sqs import EmbeddedSQS
from tests.support import REGION


@pytest.fixture(scope="module")
def embedded() -> Iterator[EmbeddedSQS]:
    server = EmbeddedSQS("127.0.0.1", 0)
    yield server
    server.stop()


@pytest.fixture
def client(embedded: EmbeddedSQS) -> Any:
    config = botocore.config.Config(max_pool_connections=20, retries={"max_attempts": 1})
    return boto3.client("sqs", region_name=REGION, endpoint_url=embedded.url, config=config)


@pytest.fixture
def queue_url(client: Any) -> str:
    url: str = client.create_queue(QueueName=f"q{uuid.uuid4().hex[:12]}")["QueueUrl"]
    return url


def test_concurrent_receivers_never_get_the_same_message(client: Any, queue_url: str) -> None:
    """Ten pollers at once share 200 messages: each is handed out exactly once."""
    for start in range(0, 200, 10):
        client.send_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(n), "MessageBody": str(start + n)} for n in range(10)],
        )

    def receive_all() -> list[str]:
        bodies: list[str] = []
        while messages := client.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=300
        ).get("Messages", []):
            bodies.extend(message["Body"] for message in messages)
        return bodies

    with ThreadPoolExecutor(10) as pool:
        received = [
            body for bodies in pool.map(lambda _: receive_all(), range(10)) for body in bodies
        ]

    assert sorted(map(int, received)) == list(range(200))


def test_a_long_poll_returns_a_message_sent_while_it_waits(client: Any, queue_url: str) -> None:
    """The wait is served outside moto, by polling again when the queue changes."""
    polled: list[Any] = []
    poller = threading.Thread(
        target=lambda: polled.append(
            client.receive_message(QueueUrl=queue_url, WaitTimeSeconds=20).get("Messages", [])
        )
    )
    poller.start()

    client.send_message(QueueUrl=queue_url, MessageBody="late")
    poller.join(30)

    assert [message["Body"] for message in polled[0]] == ["late"]


def test_a_waiting_long_poll_does_not_hold_up_other_calls(client: Any, queue_url: str) -> None:
    """While one poll waits on an empty queue, sends to another queue still go through."""
    other = client.create_queue(QueueName=f"q{uuid.uuid4().hex[:12]}")["QueueUrl"]
    poller = threading.Thread(
        target=lambda: client.receive_message(QueueUrl=queue_url, WaitTimeSeconds=2)
    )
    poller.start()

    client.send_message(QueueUrl=other, MessageBody="meanwhile")

    assert poller.is_alive()
    poller.join(30)


#: Well under SQS's longest poll (20 s): only a poll that is not released reaches it.
RELEASE_PATIENCE = 10.0


def test_released_20_second_long_polls_return_at_once_with_no_messages() -> None:
    """What a stopping stack does first, so its daemons do not wait out their polls."""
    server = EmbeddedSQS("127.0.0.1", 0)
    client = boto3.client(
        "sqs",
        region_name=REGION,
        endpoint_url=server.url,
        config=botocore.config.Config(read_timeout=60, retries={"max_attempts": 1}),
    )
    queue_url = client.create_queue(QueueName="idle")["QueueUrl"]
    with ThreadPoolExecutor(1) as pool:
        poll = pool.submit(client.receive_message, QueueUrl=queue_url, WaitTimeSeconds=20)

        server.release_waiting_polls()  # waiting now, or about to poll: either way released

        answer = poll.result(timeout=RELEASE_PATIENCE)
    server.stop()
    assert answer.get("Messages", []) == []


def test_move_task_actions_are_refused_as_unknown_actions_without_retries(
    embedded: EmbeddedSQS, queue_url: str
) -> None:
    """moto has no move tasks: one 400 InvalidAction (no retried 500s, no console traceback)."""
    retrying = botocore.config.Config(retries={"mode": "standard", "max_attempts": 3})
    client = boto3.client("sqs", region_name=REGION, endpoint_url=embedded.url, config=retrying)
    arn = client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    calls: list[str] = []
    client.meta.events.register("before-send.sqs.*", lambda **_: calls.append("sent"))
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        client.list_message_move_tasks(SourceArn=arn)
    assert refused.value.response["Error"]["Code"] == "InvalidAction"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert calls == ["sent"]  # a 500 would have been sent three times
