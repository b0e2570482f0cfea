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
from pyramid_elasticjobs.client import EnqueuedJob, get_client
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
    """A missing extra queue is listed with its error; one without a policy has no DLQ."""
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
        "not_periodic": send_raw(
            urls.default_dead,
            b"elasticbeanstalk scheduled job",
            {"beanstalk.sqsd.task_name": "noop"},
        ),
        "unknown_task": send_raw(
            urls.default_dead,
            b"elasticbeanstalk scheduled job",
            {"beanstalk.sqsd.task_name": "retired_task"},
        ),
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
        "not_periodic": Verdict.UNKNOWN_JOB,
        "unknown_task": Verdict.UNKNOWN_JOB,
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
    assert "not declared periodic" in (by_kind["not_periodic"].reason or "")
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


def test_a_forged_message_of_a_known_job_is_redacted_too(
    service: DeadLetters,
    default_dead: DeadLetterQueue,
    urls: Urls,
    send_raw: Callable[..., str],
    recorder: ListRecorder,
) -> None:
    """A bad signature (a retired secret, say) does not make a job's secrets printable."""
    body = make_envelope("log_in", {"user": "ann", "token": "s3cr3t"}).to_json()
    send_raw(urls.default_dead, body, forged_attributes("log_in"))
    [letter] = service.sample(default_dead).letters
    assert letter.verdict is Verdict.BAD_SIGNATURE
    assert letter.arguments == {"user": "ann", "token": "[redacted]"}
    assert "s3cr3t" not in recorder.seen[0]["body"]


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


def test_redrive_selected_skips_and_lists_messages_that_would_fail_again(
    service: DeadLetters,
    default_dead: DeadLetterQueue,
    dead_envelope: Callable[..., str],
    send_raw: SendRaw,
    urls: Urls,
    sqs: Any,
) -> None:
    """Of a valid, a forged and an invalid message only the valid one moves; the rest stay."""
    valid = dead_envelope()
    forged = send_raw(urls.default_dead, make_envelope().to_json(), forged_attributes())
    invalid = dead_envelope("resize_image", {"image_id": "x"})
    untouched = dead_envelope()
    result = service.redrive(default_dead, [valid, forged, invalid, "no-such-id"], actor=ACTOR)
    assert [item.message_id for item in result.redriven] == [valid]
    assert {item.message_id: item.verdict for item in result.skipped} == {
        forged: Verdict.BAD_SIGNATURE,
        invalid: Verdict.INVALID_ARGUMENTS,
    }
    assert "Not a valid integer" in next(
        s.reason for s in result.skipped if s.message_id == invalid
    )
    assert result.not_found == ("no-such-id",)
    assert [m["MessageId"] for m in drain(sqs, urls.default)] == [result.redriven[0].new_message_id]
    assert {m["MessageId"] for m in drain(sqs, urls.default_dead)} == {forged, invalid, untouched}


def test_redrive_matching_moves_only_that_job_throttled_with_progress(
    service: DeadLetters,
    dlq_app: Any,
    default_dead: DeadLetterQueue,
    dead_envelope: Callable[..., str],
    urls: Urls,
    sqs: Any,
) -> None:
    """Every valid noop moves at the throttle's pace, reporting progress; others stay put."""
    noops = {dead_envelope() for _ in range(3)}
    others = {dead_envelope("nightly_report") for _ in range(2)}
    noops.add(dead_envelope("noop", {"unexpected": 1}))  # matches, but invalid: skipped
    clock = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    reports: list[Progress] = []
    result = service.redrive_matching(
        default_dead,
        Match(job_names=frozenset({"noop"})),
        actor=ACTOR,
        throttle=Throttle(4, clock=lambda: clock[0], sleep=sleep),
        progress=reports.append,
    )
    assert len(result.redriven) == 3
    assert {item.message_id for item in result.redriven} | {
        item.message_id for item in result.skipped
    } == noops
    assert slept == [0.25, 0.25]
    assert result.scanned == 6
    assert [report.scanned for report in reports] == [1, 2, 3, 4, 5, 6]
    assert (reports[-1].redriven, reports[-1].skipped, reports[-1].total) == (3, 1, 6)
    assert len(drain(sqs, urls.default)) == 3
    left = {m["MessageId"] for m in drain(sqs, urls.default_dead)}
    assert left == others | {item.message_id for item in result.skipped}


def test_a_failed_send_releases_the_message_and_deletes_nothing(
    service: DeadLetters,
    default_dead: DeadLetterQueue,
    dead_envelope: Callable[..., str],
    urls: Urls,
    sqs: Any,
    recorder: ListRecorder,
) -> None:
    """With the source queue gone, the message is listed as failed and visible again at once."""
    message_id = dead_envelope()
    sqs.delete_queue(QueueUrl=urls.default)
    result = service.redrive(default_dead, [message_id], actor=ACTOR)
    [failed] = result.failed
    assert failed.message_id == message_id
    assert "SendMessage" in failed.reason
    assert result.redriven == ()
    assert counts(sqs, urls.default_dead) == (1, 0)
    assert recorder.actions == []


@pytest.fixture
def failing_deletes(dlq_app: Any) -> Iterator[None]:
    """The app's SQS client fails every DeleteMessage, as a crash after the send would."""
    client = get_runtime(dlq_app.registry).transport.client

    def fail(**_: Any) -> None:
        raise botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:9")

    client.meta.events.register("before-call.sqs.DeleteMessage", fail)
    yield
    client.meta.events.unregister("before-call.sqs.DeleteMessage", fail)


@pytest.mark.usefixtures("failing_deletes")
def test_a_failure_between_send_and_delete_leaves_a_duplicate_not_a_loss(
    service: DeadLetters,
    default_dead: DeadLetterQueue,
    dead_envelope: Callable[..., str],
    urls: Urls,
    sqs: Any,
    recorder: ListRecorder,
) -> None:
    """The copy is in the source queue and the original, released, still in the DLQ."""
    message_id = dead_envelope()
    [redriven] = service.redrive(default_dead, [message_id], actor=ACTOR).redriven
    assert redriven.deleted is False
    assert counts(sqs, urls.default_dead) == (1, 0)
    [copy] = drain(sqs, urls.default)
    [original] = drain(sqs, urls.default_dead)
    assert copy["Body"] == original["Body"]
    assert recorder.actions[0]["detail"]["original_deleted"] is False


def test_a_copy_with_a_wrong_checksum_keeps_the_original(
    service: DeadLetters,
    dlq_app: Any,
    default_dead: DeadLetterQueue,
    dead_envelope: Callable[..., str],
    urls: Urls,
    sqs: Any,
) -> None:
    """If SQS's checksum of the copy does not match, the original is released, not deleted."""
    message_id = dead_envelope()
    client = get_runtime(dlq_app.registry).transport.client

    def corrupt(parsed: dict[str, Any], **_: Any) -> None:
        parsed["MD5OfMessageBody"] = "0" * 32

    client.meta.events.register("after-call.sqs.SendMessage", corrupt)
    result = service.redrive(default_dead, [message_id], actor=ACTOR)
    client.meta.events.unregister("after-call.sqs.SendMessage", corrupt)
    [failed] = result.failed
    assert "checksums" in failed.reason
    assert counts(sqs, urls.default_dead) == (1, 0)


def test_redrive_keeps_number_and_binary_attributes(
    service: DeadLetters,
    dlq_app: Any,
    default_dead: DeadLetterQueue,
    urls: Urls,
    sqs: Any,
) -> None:
    """Every attribute travels with the copy, whatever its type, and SQS's checksum agrees."""
    from pyramid_elasticjobs.signing import signed_message

    envelope = make_envelope()
    message = signed_message(get_runtime(dlq_app.registry), envelope.to_json(), "noop")
    attributes = {**message.sqs_attributes()}
    attributes["tries"] = {"DataType": "Number", "StringValue": "3"}
    attributes["blob"] = {"DataType": "Binary", "BinaryValue": b"\x00\x01"}
    message_id = sqs.send_message(
        QueueUrl=urls.default_dead, MessageBody=message.body.decode(), MessageAttributes=attributes
    )["MessageId"]
    [redriven] = service.redrive(default_dead, [message_id], actor=ACTOR).redriven
    assert redriven.deleted
    [copy] = drain(sqs, urls.default)
    assert copy["MessageAttributes"]["tries"] == {"DataType": "Number", "StringValue": "3"}
    assert copy["MessageAttributes"]["blob"]["BinaryValue"] == b"\x00\x01"


# -- deleting and purging ---------------------------------------------------------------


def test_delete_removes_only_that_message_and_is_recorded(
    service: DeadLetters,
    default_dead: DeadLetterQueue,
    dead_envelope: Callable[..., str],
    urls: Urls,
    sqs: Any,
    recorder: ListRecorder,
) -> None:
    """One message is deleted for good; the others are visible again right after."""
    doomed = dead_envelope()
    kept = {dead_envelope(), dead_envelope()}
    letter = service.delete(default_dead, doomed, actor=ACTOR)
    assert letter.message_id == doomed
    assert counts(sqs, urls.default_dead) == (2, 0)
    assert {m["MessageId"] for m in drain(sqs, urls.default_dead)} == kept
    [action] = recorder.actions
    assert (action["action"], action["message_id"], action["job_id"]) == (
        "deleted",
        doomed,
        letter.job_id,
    )


def test_deleting_an_unknown_message_says_so_and_releases_the_rest(
    service: DeadLetters,
    default_dead: DeadLetterQueue,
    dead_envelope: Callable[..., str],
    urls: Urls,
    sqs: Any,
) -> None:
    """A message id not in the queue raises DeadLetterNotFound; nothing stays hidden."""
    dead_envelope()
    with pytest.raises(DeadLetterNotFound, match="sample the queue again"):
        service.delete(default_dead, "no-such-id", actor=ACTOR)
    assert counts(sqs, urls.default_dead) == (1, 0)


def test_purge_needs_the_queue_name_as_confirmation(
    service: DeadLetters,
    default_dead: DeadLetterQueue,
    dead_envelope: Callable[..., str],
    urls: Urls,
    sqs: Any,
    recorder: ListRecorder,
) -> None:
    """A wrong confirmation purges nothing; the queue's name purges it and is recorded."""
    dead_envelope()
    dead_envelope()
    with pytest.raises(PurgeNotConfirmed, match="confirm by giving the queue's name"):
        service.purge(default_dead, confirm="default", actor=ACTOR)
    assert counts(sqs, urls.default_dead) == (2, 0)
    assert recorder.actions == []
    service.purge(default_dead, confirm=default_dead.name, actor=ACTOR)
    assert counts(sqs, urls.default_dead) == (0, 0)
    [action] = recorder.actions
    assert (action["action"], action["queue"], action["detail"]) == (
        "purged",
        default_dead.name,
        {"approximate_messages": 2},
    )


# -- editing ----------------------------------------------------------------------------


def test_edit_and_redrive_validates_then_sends_a_new_signed_job(
    service: DeadLetters,
    dlq_app: Any,
    urls: Urls,
    sqs: Any,
    send_envelope: SendEnvelope,
    recorder: ListRecorder,
) -> None:
    """Invalid new arguments change nothing; valid ones go out re-signed as a new job."""
    images_dead = service.dead_letter_queue("images")
    original = make_envelope("resize_image", {"image_id": "seven"}, queue="images")
    message_id = send_envelope(dlq_app, urls.images_dead, original)
    with pytest.raises(InvalidJobArguments, match="image_id"):
        service.edit_and_redrive(images_dead, message_id, {"image_id": "7x"}, actor=ACTOR)
    assert counts(sqs, urls.images_dead) == (1, 0)
    edited = service.edit_and_redrive(images_dead, message_id, {"image_id": 7}, actor=ACTOR)
    assert edited.deleted
    assert edited.job_id != original.job_id
    [copy] = drain(sqs, urls.images)
    assert copy["MessageId"] == edited.message_id
    body = json.loads(copy["Body"])
    assert (body["id"], body["job"], body["args"]) == (
        edited.job_id,
        "resize_image",
        {"image_id": 7, "width": 800},
    )
    signature = copy["MessageAttributes"][SIGNATURE_ATTRIBUTE]["StringValue"]
    assert get_runtime(dlq_app.registry).signer.verify(copy["Body"].encode(), signature)
    assert counts(sqs, urls.images_dead) == (0, 0)
    [action] = recorder.actions
    assert (action["action"], action["job_id"], action["message_id"]) == (
        "edited",
        original.job_id,
        message_id,
    )
    assert action["detail"]["new_job_id"] == edited.job_id
    assert action["detail"]["new_message_id"] == edited.message_id


def test_edit_keeps_a_redacted_value_left_as_shown(
    service: DeadLetters,
    default_dead: DeadLetterQueue,
    dead_envelope: Callable[..., str],
    urls: Urls,
    sqs: Any,
    recorder: ListRecorder,
) -> None:
    """A sensitive field sent back as "[redacted]" keeps its original value, never recorded."""
    message_id = dead_envelope("log_in", {"user": "ann", "token": "s3cr3t"})
    [letter] = service.sample(default_dead).letters
    arguments = {**letter.arguments, "user": "bob"} if letter.arguments else {}
    service.edit_and_redrive(default_dead, message_id, arguments, actor=ACTOR)
    [copy] = drain(sqs, urls.default)
    assert json.loads(copy["Body"])["args"] == {"user": "bob", "token": "s3cr3t"}
    assert "s3cr3t" not in json.dumps(recorder.actions)


@pytest.mark.parametrize("kind", ["forged", "raw"])
def test_edit_refuses_what_it_cannot_vouch_for(
    service: DeadLetters,
    default_dead: DeadLetterQueue,
    send_raw: SendRaw,
    urls: Urls,
    sqs: Any,
    kind: str,
) -> None:
    """A forged message is not signed anew, nor is a body that is no envelope; both stay."""
    body = make_envelope().to_json() if kind == "forged" else b"hello"
    message_id = send_raw(urls.default_dead, body, forged_attributes())
    with pytest.raises(NotRedrivable, match="delete it"):
        service.edit_and_redrive(default_dead, message_id, {}, actor=ACTOR)
    assert counts(sqs, urls.default_dead) == (1, 0)


def test_edit_refuses_arguments_named_like_enqueue_options(
    service: DeadLetters, default_dead: DeadLetterQueue, dead_envelope: Callable[..., str]
) -> None:
    """{"delay": 900} is an unknown argument, not a way to delay the job."""
    message_id = dead_envelope()
    with pytest.raises(InvalidJobArguments, match="delay"):
        service.edit_and_redrive(default_dead, message_id, {"delay": 900}, actor=ACTOR)


# -- move tasks -------------------------------------------------------------------------


def test_redrive_all_falls_back_to_checked_redrive_where_sqs_has_no_move_tasks(
    service: DeadLetters,
    default_dead: DeadLetterQueue,
    dead_envelope: Callable[..., str],
    urls: Urls,
    sqs: Any,
) -> None:
    """moto has no StartMessageMoveTask: each valid message is redriven, the invalid listed."""
    valid = {dead_envelope(), dead_envelope()}
    invalid = dead_envelope("resize_image", {})
    assert service.move_tasks(default_dead) is None
    outcome = service.redrive_all(default_dead, actor=ACTOR)
    assert outcome.task_handle is None
    assert outcome.fallback is not None
    assert {item.message_id for item in outcome.fallback.redriven} == valid
    assert [item.message_id for item in outcome.fallback.skipped] == [invalid]
    assert len(drain(sqs, urls.default)) == 2


def test_an_endpoint_without_move_tasks_is_asked_once(
    service: DeadLetters, default_dead: DeadLetterQueue, dlq_app: Any
) -> None:
    """moto answers move-task calls with a 500 (retried by botocore): one call, then known."""
    calls: list[str] = []
    client = get_runtime(dlq_app.registry).transport.client
    client.meta.events.register(
        "provide-client-params.sqs.ListMessageMoveTasks", lambda **_: calls.append("list")
    )
    assert service.move_tasks(default_dead) is None
    assert service.move_tasks(default_dead) is None
    assert DeadLetters(dlq_app.registry).move_tasks(default_dead) is None
    assert calls == ["list"]


def stubbed_queue(dlq_app: Any) -> DeadLetterQueue:
    arn = "arn:aws:sqs:us-east-1:123456789012:jobs-dead-letters"
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/jobs-dead-letters"
    attributes = QueueAttributes(arn, 5, 0, 0, 1_209_600, 30)
    return DeadLetterQueue("jobs-dead-letters", url, attributes, ())


def test_move_task_is_started_listed_and_cancelled_through_sqs(
    service: DeadLetters, dlq_app: Any, recorder: ListRecorder
) -> None:
    """Where SQS has move tasks, the whole queue moves by one; status and cancel come from SQS."""
    queue = stubbed_queue(dlq_app)
    client = get_runtime(dlq_app.registry).transport.client
    running = {
        "TaskHandle": "handle-1",
        "Status": "RUNNING",
        "SourceArn": queue.arn,
        "MaxNumberOfMessagesPerSecond": 50,
        "ApproximateNumberOfMessagesMoved": 2,
        "ApproximateNumberOfMessagesToMove": 5,
        "StartedTimestamp": 1_700_000_000_000,
    }
    with Stubber(client) as stubber:
        stubber.add_response(
            "start_message_move_task",
            {"TaskHandle": "handle-1"},
            {"SourceArn": queue.arn, "MaxNumberOfMessagesPerSecond": 50},
        )
        stubber.add_response(
            "list_message_move_tasks",
            {"Results": [running]},
            {"SourceArn": queue.arn, "MaxResults": 10},
        )
        stubber.add_response(
            "cancel_message_move_task",
            {"ApproximateNumberOfMessagesMoved": 3},
            {"TaskHandle": "handle-1"},
        )
        outcome = service.redrive_all(queue, actor=ACTOR, max_per_second=50)
        tasks = service.move_tasks(queue)
        moved = service.cancel_move_task(queue, "handle-1", actor=ACTOR)
        stubber.assert_no_pending_responses()
    assert (outcome.task_handle, outcome.fallback) == ("handle-1", None)
    assert tasks is not None
    [task] = tasks
    assert (task.running, task.moved, task.to_move, task.task_handle) == (True, 2, 5, "handle-1")
    assert task.started_at == datetime.fromtimestamp(1_700_000_000, UTC)
    assert moved == 3
    assert [(a["action"], a["detail"]["task_handle"]) for a in recorder.actions] == [
        ("move_started", "handle-1"),
        ("move_cancelled", "handle-1"),
    ]


@pytest.mark.parametrize(
    ("code", "status"), [("UnsupportedOperation", 400), ("InternalError", 500)]
)
def test_a_refused_move_task_is_an_error_not_a_reason_to_fall_back(
    service: DeadLetters, dlq_app: Any, code: str, status: int
) -> None:
    """AWS refusing a task (one already runs) or failing is reported; nothing is redriven."""
    queue = stubbed_queue(dlq_app)
    client = get_runtime(dlq_app.registry).transport.client
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "start_message_move_task", service_error_code=code, http_status_code=status
        )
        with pytest.raises(MoveTaskError, match="one move task at a time"):
            service.redrive_all(queue, actor=ACTOR)
        stubber.assert_no_pending_responses()


def test_a_move_task_rate_beyond_sqs_limits_is_refused(service: DeadLetters, dlq_app: Any) -> None:
    """SQS moves 1 to 500 messages per second; other rates are refused before any call."""
    with pytest.raises(MoveTaskError, match="1 to 500"):
        service.redrive_all(stubbed_queue(dlq_app), actor=ACTOR, max_per_second=501)


# -- throttle, recorder -----------------------------------------------------------------


def test_throttle_spaces_sends_and_refuses_impossible_rates() -> None:
    """Sends at 2/s wait half a second apart (none before the first); rate 0 is refused."""
    clock = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    throttle = Throttle(2, clock=lambda: clock[0], sleep=sleep)
    for _ in range(3):
        throttle.wait()
    clock[0] += 5  # a slow step: the next send is not delayed further
    throttle.wait()
    assert slept == [0.5, 0.5]
    with pytest.raises(DeadLetterError, match="positive number"):
        Throttle(0)


def test_the_audit_store_records_snapshots_and_actions(
    dlq_app: Any, dead_envelope: Callable[..., str], tmp_path: Path
) -> None:
    """The real AuditStore on SQLite is a Recorder: snapshots, and the redrive marks them."""
    from sqlalchemy import select

    from pyramid_elasticjobs.audit.engine import engine_for_url
    from pyramid_elasticjobs.audit.migrate import upgrade
    from pyramid_elasticjobs.audit.models import ActionRecord, DeadLetterRecord
    from pyramid_elasticjobs.audit.store import AuditStore

    engine = engine_for_url(f"sqlite:///{tmp_path / 'audit.sqlite'}")
    upgrade(engine)
    store: Recorder = AuditStore(engine)
    service = DeadLetters(dlq_app.registry, store, wait_seconds=0)
    queue = service.dead_letter_queue("default")
    message_id = dead_envelope()
    [letter] = service.sample(queue).letters
    service.redrive(queue, [message_id], actor=ACTOR)
    with engine.connect() as connection:
        snapshot = connection.execute(select(DeadLetterRecord)).one()
        action = connection.execute(select(ActionRecord)).one()
    assert (snapshot.message_id, snapshot.job_id, snapshot.source_queue) == (
        message_id,
        letter.job_id,
        letter.source_queue,
    )
    assert (snapshot.action, snapshot.action_by) == ("redriven", ACTOR)
    assert (action.action, action.actor, action.message_id) == ("redriven", ACTOR, message_id)
    engine.dispose()


def test_sampling_survives_a_release_that_fails(
    service: DeadLetters,
    dlq_app: Any,
    default_dead: DeadLetterQueue,
    dead_envelope: Callable[..., str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failed release is logged, not raised: the messages come back when their time is up."""
    dead_envelope()
    client = get_runtime(dlq_app.registry).transport.client

    def fail(**_: Any) -> None:
        raise botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:9")

    client.meta.events.register("before-call.sqs.ChangeMessageVisibilityBatch", fail)
    taken = service.sample(default_dead)
    client.meta.events.unregister("before-call.sqs.ChangeMessageVisibilityBatch", fail)
    assert len(taken.letters) == 1
    assert "could not release 1 message(s)" in caplog.text


@pytest.mark.usefixtures("failing_deletes")
def test_an_edit_whose_delete_fails_says_the_original_stayed(
    service: DeadLetters,
    default_dead: DeadLetterQueue,
    dead_envelope: Callable[..., str],
    urls: Urls,
    sqs: Any,
) -> None:
    """The new job is sent; the original, released, is reported as not deleted."""
    message_id = dead_envelope("nightly_report", {"title": 5})
    edited = service.edit_and_redrive(default_dead, message_id, {"title": "5"}, actor=ACTOR)
    assert edited.deleted is False
    assert counts(sqs, urls.default_dead) == (1, 0)
    assert len(drain(sqs, urls.default)) == 1


def test_a_dead_letter_queue_shared_by_two_queues_redrives_to_the_envelopes_queue(
    dlq_app: Any,
    make_queue: Callable[..., str],
    sqs: Any,
    send_envelope: SendEnvelope,
    queue_prefix: str,
) -> None:
    """With two sources, the envelope's queue decides; a queue that is neither is not guessed."""
    shared = make_queue("shared-dead")
    first = make_queue("first", RedrivePolicy=redrive_policy(sqs, shared, 3))
    make_queue("second", RedrivePolicy=redrive_policy(sqs, shared, 3))
    service = DeadLetters(dlq_app.registry, extra_queues=("first", "second"), wait_seconds=0)
    queue = service.dead_letter_queue(f"{queue_prefix}shared-dead")
    assert len(queue.sources) == 2
    home = send_envelope(dlq_app, shared, make_envelope(queue="first"))
    astray = send_envelope(dlq_app, shared, make_envelope(queue="elsewhere"))
    result = service.redrive(queue, [home, astray], actor=ACTOR)
    assert [item.source_queue for item in result.redriven] == [f"{queue_prefix}first"]
    [failed] = result.failed
    assert (failed.message_id, "source queue" in failed.reason) == (astray, True)
    assert len(drain(sqs, first)) == 1


def test_a_fifo_dead_letter_goes_back_to_its_message_group(
    dlq_app: Any, make_queue: Callable[..., str], sqs: Any, queue_prefix: str
) -> None:
    """On FIFO queues the copy keeps the message group and gets a deduplication id."""
    from pyramid_elasticjobs.signing import signed_message

    dead = make_queue("jobs-dead.fifo")
    source = make_queue("jobs.fifo", RedrivePolicy=redrive_policy(sqs, dead, 3))
    message = signed_message(get_runtime(dlq_app.registry), make_envelope().to_json(), "noop")
    message_id = sqs.send_message(
        QueueUrl=dead,
        MessageBody=message.body.decode(),
        MessageAttributes=message.sqs_attributes(),
        MessageGroupId="group-7",
        MessageDeduplicationId="d-1",
    )["MessageId"]
    service = DeadLetters(dlq_app.registry, extra_queues=("jobs.fifo",), wait_seconds=0)
    queue = service.dead_letter_queue("jobs.fifo")
    [redriven] = service.redrive(queue, [message_id], actor=ACTOR).redriven
    assert redriven.source_queue == f"{queue_prefix}jobs.fifo"
    [copy] = drain(sqs, source)
    assert copy["Attributes"]["MessageGroupId"] == "group-7"


def test_a_job_queue_whose_dead_letter_queue_is_gone_says_so(
    dlq_app: Any, sqs: Any, urls: Urls
) -> None:
    """A redrive policy naming a deleted queue is reported on the job queue."""
    sqs.delete_queue(QueueUrl=urls.images_dead)
    service = DeadLetters(dlq_app.registry, wait_seconds=0)
    images = next(queue for queue in service.queues() if queue.queue == "images")
    assert images.dead_letters is None
    assert images.max_receive_count == MAX_RECEIVES
    assert "cannot be read" in (images.error or "")
