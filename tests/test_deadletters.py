"""The dead-letter service against moto's real SQS (and botocore's Stubber for move tasks)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest
from botocore.stub import Stubber
from marshmallow import Schema, fields
from pyramid.config import Configurator

from pyramid_elasticjobs import JobContext
from pyramid_elasticjobs.deadletters import (
    DeadLetterError,
    DeadLetterNotFound,
    DeadLetterQueue,
    DeadLetters,
    Match,
    MoveTaskError,
    NotADeadLetterQueue,
    NotRedrivable,
    Progress,
    PurgeNotConfirmed,
    QueueAttributes,
    QueueRef,
    Recorder,
    Throttle,
    Verdict,
)
from pyramid_elasticjobs.client import EnqueuedJob, get_client
from pyramid_elasticjobs.envelope import Envelope
from pyramid_elasticjobs.exceptions import InvalidJobArguments
from pyramid_elasticjobs.protocol import SIGNATURE_ATTRIBUTE
from pyramid_elasticjobs.runtime import get_runtime

from .deadletters_support import (
    ListRecorder,
    Urls,
    counts,
    drain,
    fail_deliveries,
    forged_attributes,
    queue_arn,
    redrive_policy,
)
from .support import make_envelope, record_calls

MAX_RECEIVES = 2
ACTOR = "alice@example.com"

SendRaw = Callable[[str, bytes, dict[str, str]], str]
SendEnvelope = Callable[[Any, str, Envelope], str]


class Login(Schema):
    user = fields.Str(required=True)
    token = fields.Str(required=True)


def log_in(ctx: JobContext, user: str, token: str) -> None:
    """A job with a sensitive argument."""


@pytest.fixture
def urls(sqs: Any, make_queue: Callable[..., str]) -> Urls:
    default_dead = make_queue("default-dead-letters")
    images_dead = make_queue("images-dead-letters", MessageRetentionPeriod="1209600")
    default = make_queue("default", RedrivePolicy=redrive_policy(sqs, default_dead, MAX_RECEIVES))
    images = make_queue("images", RedrivePolicy=redrive_policy(sqs, images_dead, MAX_RECEIVES))
    return Urls(default, default_dead, images, images_dead)


@pytest.fixture
def dlq_app(make_app: Callable[..., Any], urls: Urls) -> Any:
    def configure(config: Configurator) -> None:
        config.add_job(log_in, schema=Login, redact=("token",))

    return make_app(configure)


@pytest.fixture
def recorder() -> ListRecorder:
    return ListRecorder()


@pytest.fixture
def service(dlq_app: Any, recorder: ListRecorder) -> DeadLetters:
    return DeadLetters(dlq_app.registry, recorder, wait_seconds=0)


@pytest.fixture
def default_dead(service: DeadLetters) -> DeadLetterQueue:
    return service.dead_letter_queue("default")


@pytest.fixture
def dead_envelope(dlq_app: Any, urls: Urls, send_envelope: SendEnvelope) -> Callable[..., str]:
    """Put a signed envelope straight into the default dead-letter queue."""

    def dead_envelope(
        name: str = "noop", arguments: dict[str, Any] | None = None, **kw: Any
    ) -> str:
        return send_envelope(dlq_app, urls.default_dead, make_envelope(name, arguments, **kw))

    return dead_envelope


def bodies(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [json.loads(message["Body"]) for message in messages]


# -- finding queues ---------------------------------------------------------------------


def test_queues_lists_each_job_queue_with_its_dead_letter_queue(
    service: DeadLetters, urls: Urls, queue_prefix: str, dead_envelope: Callable[..., str]
) -> None:
    """Job queues come with attributes, maxReceiveCount and their DLQ's URL and depth."""
    dead_envelope()
    found = {queue.queue: queue for queue in service.queues()}
    assert set(found) == {"default", "images"}
    default = found["default"]
    assert default.name == f"{queue_prefix}default"
    assert default.url == urls.default
    assert default.max_receive_count == MAX_RECEIVES
    assert default.attributes is not None
    assert default.attributes.visibility_timeout == 30
    dead = default.dead_letters
    assert dead is not None
    assert (dead.name, dead.url) == (f"{queue_prefix}default-dead-letters", urls.default_dead)
    assert dead.attributes.visible == 1
    assert dead.sources == (QueueRef(default.name, urls.default),)
    images_dead = found["images"].dead_letters
    assert images_dead is not None
    assert images_dead.attributes.retention_seconds == 1_209_600


def test_queues_reports_a_missing_queue_and_a_queue_without_policy(
    dlq_app: Any, make_queue: Callable[..., str], urls: Urls
) -> None:
    """An extra queue that does not exist is listed with its error; one without policy has no DLQ."""
    make_queue("plain")
    service = DeadLetters(dlq_app.registry, extra_queues=("plain", "missing"), wait_seconds=0)
    found = {queue.queue: queue for queue in service.queues()}
    assert found["plain"].dead_letters is None
    assert found["plain"].error is None
    assert found["missing"].url is None
    assert "does not exist" in (found["missing"].error or "")
    assert found["default"].dead_letters is not None


def test_queues_with_a_sample_report_the_oldest_dead_letter_and_its_deadline(
    service: DeadLetters, dead_envelope: Callable[..., str], urls: Urls, sqs: Any
) -> None:
    """The oldest SentTimestamp of a sample, plus the DLQ's retention; the sample is released."""
    dead_envelope()
    dead_envelope()
    before = datetime.now(UTC)
    found = {queue.queue: queue for queue in service.queues(sample_size=5)}
    dead = found["default"].dead_letters
    assert dead is not None
    oldest = dead.oldest
    assert oldest is not None
    assert oldest.sample_size == 2
    assert oldest.sent_at <= before
    assert oldest.deadline == oldest.sent_at + timedelta(seconds=dead.attributes.retention_seconds)
    images_dead = found["images"].dead_letters
    assert images_dead is not None
    assert images_dead.oldest is None
    assert counts(sqs, urls.default_dead) == (2, 0)


def test_dead_letter_queue_is_found_by_its_own_name_or_its_job_queue(
    service: DeadLetters, queue_prefix: str, urls: Urls
) -> None:
    """Both the logical job queue and the DLQ's SQS name lead to the same DLQ."""
    by_job_queue = service.dead_letter_queue("images")
    by_name = service.dead_letter_queue(f"{queue_prefix}images-dead-letters")
    assert by_job_queue == by_name
    assert by_name.url == urls.images_dead


def test_dead_letter_queue_outside_the_job_queues_is_found_through_sqs(
    service: DeadLetters, sqs: Any, make_queue: Callable[..., str], queue_prefix: str
) -> None:
    """A DLQ of a queue the app does not know is accepted once SQS lists a source for it."""
    other_dead = make_queue("other-dead")
    other = make_queue("other", RedrivePolicy=redrive_policy(sqs, other_dead, 3))
    dead = service.dead_letter_queue(f"{queue_prefix}other-dead")
    assert dead.url == other_dead
    assert dead.sources == (QueueRef(f"{queue_prefix}other", other),)


@pytest.mark.parametrize(
    "name", ["{prefix}default", "{prefix}images", "plain", "{prefix}unrelated"]
)
def test_a_live_queue_is_refused_as_a_dead_letter_queue(
    dlq_app: Any, make_queue: Callable[..., str], urls: Urls, queue_prefix: str, name: str
) -> None:
    """Job queues themselves and queues no redrive policy names are never browsed."""
    make_queue("plain")
    make_queue("unrelated")
    service = DeadLetters(dlq_app.registry, extra_queues=("plain",), wait_seconds=0)
    with pytest.raises(NotADeadLetterQueue, match="not a dead-letter queue"):
        service.dead_letter_queue(name.format(prefix=queue_prefix))


# -- sampling ---------------------------------------------------------------------------


def test_sampling_releases_every_message_and_never_receives_from_a_source(
    service: DeadLetters,
    dlq_app: Any,
    default_dead: DeadLetterQueue,
    dead_envelope: Callable[..., str],
    urls: Urls,
    sqs: Any,
) -> None:
    """Right after a sample the messages are visible again; only the DLQ was received from."""
    for _ in range(3):
        dead_envelope()
    sqs.send_message(QueueUrl=urls.default, MessageBody="live")
    receives = record_calls(dlq_app, "ReceiveMessage")
    taken = service.sample(default_dead, 10)
    assert len(taken.letters) == 3
    assert counts(sqs, urls.default_dead) == (3, 0)
    assert {call["QueueUrl"] for call in receives} == {urls.default_dead}
    [live] = drain(sqs, urls.default)
    assert live["Attributes"]["ApproximateReceiveCount"] == "1"


def test_sampling_takes_up_to_the_limit_over_several_receives(
    service: DeadLetters, default_dead: DeadLetterQueue, dead_envelope: Callable[..., str]
) -> None:
    """25 dead letters, a sample of 15: 15 distinct messages (SQS gives 10 per receive)."""
    for _ in range(25):
        dead_envelope()
    taken = service.sample(default_dead, 15)
    assert len({letter.message_id for letter in taken.letters}) == 15


def test_sampling_decodes_each_kind_of_dead_letter(
    service: DeadLetters,
    default_dead: DeadLetterQueue,
    dead_envelope: Callable[..., str],
    send_raw: SendRaw,
    urls: Urls,
    queue_prefix: str,
) -> None:
    """Valid, forged, invalid arguments, unknown job, expired, periodic and raw bodies."""
    valid = make_envelope("resize_image", {"image_id": 7})
    ids = {
        "valid": dead_envelope("resize_image", {"image_id": 7}, job_id=valid.job_id),
        "forged": send_raw(urls.default_dead, valid.to_json(), forged_attributes()),
        "invalid": dead_envelope("resize_image", {"image_id": "seven"}),
        "unknown": dead_envelope("retired_job"),
        "expired": dead_envelope("noop", expires_at=datetime.now(UTC) - timedelta(hours=1)),
        "periodic": send_raw(
            urls.default_dead,
            b"elasticbeanstalk scheduled job",
            {"beanstalk.sqsd.task_name": "nightly_report", "beanstalk.sqsd.path": "/x"},
        ),
        "raw": send_raw(urls.default_dead, b"<script>alert(1)</script>", {}),
    }
    letters = {letter.message_id: letter for letter in service.sample(default_dead, 20).letters}
    by_kind = {kind: letters[message_id] for kind, message_id in ids.items()}
    assert {kind: letter.verdict for kind, letter in by_kind.items()} == {
        "valid": Verdict.VALID,
        "forged": Verdict.BAD_SIGNATURE,
        "invalid": Verdict.INVALID_ARGUMENTS,
        "unknown": Verdict.UNKNOWN_JOB,
        "expired": Verdict.EXPIRED,
        "periodic": Verdict.PERIODIC,
        "raw": Verdict.NOT_ENVELOPE,
    }
    good = by_kind["valid"]
    assert (good.job_name, good.job_id, good.signature_valid) == (
        "resize_image",
        valid.job_id,
        True,
    )
    assert good.arguments == {"image_id": 7}
    assert good.source_queue == f"{queue_prefix}default"
    assert by_kind["forged"].signature_valid is False
    assert by_kind["forged"].job_id == valid.job_id
    assert dict(by_kind["invalid"].argument_errors) == {"image_id": ["Not a valid integer."]}
    assert by_kind["periodic"].job_name == "nightly_report"
    assert by_kind["raw"].body == "<script>alert(1)</script>"
    assert by_kind["raw"].job_name is None
    assert [kind for kind, letter in by_kind.items() if letter.redrivable] == ["valid", "periodic"]


def test_sampling_records_snapshots_with_sensitive_arguments_redacted(
    service: DeadLetters,
    default_dead: DeadLetterQueue,
    dead_envelope: Callable[..., str],
    recorder: ListRecorder,
) -> None:
    """Each sampled message is recorded; a redacted field's value appears nowhere."""
    message_id = dead_envelope("log_in", {"user": "ann", "token": "s3cr3t"})
    [letter] = service.sample(default_dead).letters
    assert letter.arguments == {"user": "ann", "token": "[redacted]"}
    [seen] = recorder.seen
    assert seen["message_id"] == message_id
    assert seen["dead_letter_queue"] == default_dead.name
    assert seen["job_id"] == letter.job_id
    assert "s3cr3t" not in seen["body"]
    assert json.loads(seen["body"])["args"] == {"user": "ann", "token": "[redacted]"}
    assert seen["receive_count"] == 1


def test_a_job_whose_deliveries_all_failed_is_found_with_its_source(
    service: DeadLetters, dlq_app: Any, urls: Urls, sqs: Any, queue_prefix: str
) -> None:
    """A message SQS moved after maxReceiveCount receives decodes, with the queue it died in."""
    sent = get_client(dlq_app.registry).enqueue("resize_image", image_id=3)
    assert isinstance(sent, EnqueuedJob)
    fail_deliveries(sqs, urls.images, MAX_RECEIVES)
    dead = service.dead_letter_queue("images")
    [letter] = service.sample(dead).letters
    assert (letter.job_id, letter.verdict) == (sent.job_id, Verdict.VALID)
    assert letter.source_queue == f"{queue_prefix}images"
    assert letter.receive_count > MAX_RECEIVES


# -- redriving --------------------------------------------------------------------------


def test_redrive_one_moves_exactly_that_message(
    service: DeadLetters,
    dlq_app: Any,
    default_dead: DeadLetterQueue,
    dead_envelope: Callable[..., str],
    urls: Urls,
    sqs: Any,
    recorder: ListRecorder,
) -> None:
    """The chosen message goes to the source queue, same body and attributes; the rest stay."""
    envelope = make_envelope("noop")
    chosen = dead_envelope("noop", job_id=envelope.job_id)
    others = {dead_envelope(), dead_envelope()}
    result = service.redrive(default_dead, [chosen], actor=ACTOR)
    [redriven] = result.redriven
    assert (redriven.message_id, redriven.job_id, redriven.deleted) == (
        chosen,
        envelope.job_id,
        True,
    )
    assert (result.skipped, result.failed, result.not_found) == ((), (), ())
    [copy] = drain(sqs, urls.default)
    assert copy["MessageId"] == redriven.new_message_id
    assert json.loads(copy["Body"])["id"] == envelope.job_id
    signature = copy["MessageAttributes"][SIGNATURE_ATTRIBUTE]["StringValue"]
    assert get_runtime(dlq_app.registry).signer.verify(copy["Body"].encode(), signature)
    assert {m["MessageId"] for m in drain(sqs, urls.default_dead)} == others
    [action] = recorder.actions
    assert action["action"] == "redriven"
    assert (action["actor"], action["queue"], action["message_id"], action["job_id"]) == (
        ACTOR,
        default_dead.name,
        chosen,
        envelope.job_id,
    )
    assert action["detail"]["new_message_id"] == redriven.new_message_id
