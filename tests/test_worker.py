"""The worker tween: status codes the daemon acts on, job context, periodic tasks, long delays."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pyramid.interfaces import ITweens
from pyramid.tweens import EXCVIEW
from webtest import TestApp

from pyramid_elasticjobs import get_client
from pyramid_elasticjobs.daemon.headers import daemon_headers
from pyramid_elasticjobs.envelope import ENVELOPE_VERSION
from pyramid_elasticjobs.runtime import get_runtime
from pyramid_elasticjobs.signing import signed_message

from .support import make_envelope, receive

DAEMON = {"User-Agent": "aws-sqsd/3.0.3"}
TRUSTED = {"REMOTE_ADDR": "127.0.0.1"}


def periodic(app: Any, status: int | str = "*", **headers: str) -> Any:
    return TestApp(app).post(
        "/periodic_tasks",
        b"",
        headers={**DAEMON, **headers},
        extra_environ=TRUSTED,
        status=status,
    )


def test_job_runs_with_its_context(app: Any, make_queue: Any, deliver: Any, ran: list[Any]) -> None:
    """A signed message runs the job (200) with ctx carrying ids, queue, attempt and request."""
    enqueued = get_client(app.registry).enqueue("resize_image", image_id=9, width=120)
    response = deliver(app, make_queue("images"), status=200)
    assert response.json == {"status": "succeeded", "job_id": enqueued.job_id}
    [(name, ctx, arguments)] = ran
    assert (name, arguments) == ("resize_image", {"image_id": 9, "width": 120})
    assert (ctx.job_id, ctx.name, ctx.queue) == (enqueued.job_id, "resize_image", "images")
    assert ctx.message_id == enqueued.message_id
    assert ctx.attempt == 1
    assert ctx.enqueued_at <= ctx.first_received_at <= datetime.now(UTC) + timedelta(seconds=1)
    assert ctx.scheduled_at is None
    assert ctx.registry is app.registry
    assert ctx.request.elasticjobs.registry is app.registry


def test_attempt_is_the_receive_count(
    app: Any, make_queue: Any, deliver: Any, ran: list[Any]
) -> None:
    """ctx.attempt is the daemon's X-Aws-Sqsd-Receive-Count."""
    get_client(app.registry).enqueue("noop")
    deliver(app, make_queue("default"), status=200, **{"X-Aws-Sqsd-Receive-Count": "4"})
    assert ran[0][1].attempt == 4


def test_failing_job_answers_500_and_logs_the_traceback(
    app: Any, make_queue: Any, deliver: Any, ran: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    """A job that raises: 500 naming the exception's class, not its message; traceback logged."""
    enqueued = get_client(app.registry).enqueue("explode")
    response = deliver(app, make_queue("default"), status=500)
    assert response.json == {"status": "failed", "job_id": enqueued.job_id, "error": "RuntimeError"}
    assert len(ran) == 1
    [record] = [r for r in caplog.records if r.name == "pyramid_elasticjobs.worker"]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert "explode" in record.getMessage()


def test_discard_on_exception_answers_200(
    app: Any, make_queue: Any, deliver: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """An exception listed in discard_on ends the job for good: 200, logged as discarded.

    The answer names the exception's class only: its message quotes a value ("record 7").
    """
    enqueued = get_client(app.registry).enqueue("vanish")
    response = deliver(app, make_queue("default"), status=200)
    assert response.json == {
        "status": "discarded",
        "job_id": enqueued.job_id,
        "error": "PermanentError",
    }
    assert "discarded" in caplog.text


@pytest.mark.parametrize(
    ("envelope_fields", "status", "outcome"),
    [
        ({"name": "no_such_job"}, 422, "unknown_job"),
        ({"name": "resize_image", "arguments": {"width": 3}}, 422, "invalid_arguments"),
        ({"name": "resize_image", "arguments": {"image_id": "x"}}, 422, "invalid_arguments"),
    ],
)
def test_unrunnable_message_answers_422(
    app: Any,
    make_queue: Any,
    send_envelope: Any,
    deliver: Any,
    ran: list[Any],
    envelope_fields: dict[str, Any],
    status: int,
    outcome: str,
) -> None:
    """Unknown jobs and arguments failing the job's current schema: 422 naming the problem."""
    url = make_queue("default")
    send_envelope(app, url, make_envelope(**envelope_fields))
    response = deliver(app, url, status=status)
    assert response.json["status"] == outcome
    assert ran == []


def test_invalid_arguments_answer_lists_fields(
    app: Any, make_queue: Any, send_envelope: Any, deliver: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A schema that changed since enqueue: the 422 names the fields; the log says why."""
    url = make_queue("default")
    send_envelope(app, url, make_envelope("resize_image", {"width": "wide"}))
    response = deliver(app, url, status=422)
    assert response.json["fields"] == ["image_id", "width"]
    assert b"wide" not in response.body
    assert "width: Not a valid integer." in caplog.text


def test_unsupported_envelope_version_answers_422(
    app: Any, make_queue: Any, send_raw: Any, deliver: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """An envelope from a newer version: 422 telling to deploy one version everywhere."""
    url = make_queue("default")
    body = json.dumps({"v": ENVELOPE_VERSION + 1, "job": "noop"}).encode()
    send_raw(url, body, dict(signed_message(get_runtime(app.registry), body, "noop").attributes))
    response = deliver(app, url, status=422)
    assert response.json == {"status": "unsupported_envelope"}
    assert "deploy one pyramid_elasticjobs version" in caplog.text


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        b'{"v": 2, "job": "noop"}',
        b'{"v":2,"job":5,"id":"a","queue":"q","args":{},"resent":0,'
        b'"enqueued_at":"2026-01-01T00:00:00+00:00","expires_at":"2099-01-01T00:00:00+00:00"}',
        b"[" * 100_000,
    ],
    ids=["not-json", "not-an-object", "missing-fields", "wrong-types", "nested-too-deep"],
)
def test_malformed_signed_body_answers_400(
    app: Any, make_queue: Any, send_raw: Any, deliver: Any, ran: list[Any], body: bytes
) -> None:
    """Correctly signed but malformed bodies from a trusted source: 400."""
    url = make_queue("default")
    send_raw(url, body, dict(signed_message(get_runtime(app.registry), body, "noop").attributes))
    assert deliver(app, url, status=400).json["status"] == "malformed_message"
    assert ran == []


def test_ordinary_requests_reach_the_app(app: Any) -> None:
    """Requests that are not from the daemon go to the app untouched."""
    assert TestApp(app).get("/", status=200).json == {"app": "home"}


def test_processing_is_off_by_default(
    make_app: Callable[..., Any], make_queue: Any, deliver: Any, ran: list[Any]
) -> None:
    """Without process_jobs, a valid daemon request is just a request to the app."""
    make_queue("default")
    app = make_app(**{"elasticjobs.process_jobs": "false"})
    get_client(app.registry).enqueue("noop")
    response = deliver(app, make_queue("default"), status=200)
    assert response.json == {"app": "home"}
    assert ran == []


def test_tween_sits_under_pyramid_tm_and_over_excview(make_app: Callable[..., Any]) -> None:
    """With pyramid_tm the worker tween is inside the transaction and above the exception view."""
    app = make_app(lambda config: config.include("pyramid_tm"))
    names = [name for name, _ in app.registry.getUtility(ITweens).implicit()]
    ours = names.index("pyramid_elasticjobs.worker.worker_tween_factory")
    assert names.index("pyramid_tm.tm_tween_factory") < ours < names.index(EXCVIEW)


# -- periodic tasks ---------------------------------------------------------------


def test_periodic_task_runs_with_schema_defaults(app: Any, ran: list[Any]) -> None:
    """A POST to the periodic route runs the named job with its defaults and scheduled_at."""
    response = periodic(
        app,
        200,
        **{
            "X-Aws-Sqsd-Taskname": "nightly_report",
            "X-Aws-Sqsd-Scheduled-At": "2026-11-28T23:00:00Z",
            "X-Aws-Sqsd-Msgid": "periodic-1",
            "X-Aws-Sqsd-Queue": "worker-queue",
        },
    )
    assert response.json == {"status": "succeeded", "job_id": "periodic-1"}
    [(name, ctx, arguments)] = ran
    assert (name, arguments) == ("nightly_report", {"day": None, "title": "nightly"})
    assert ctx.scheduled_at == datetime(2026, 11, 28, 23, 0, tzinfo=UTC)
    assert ctx.queue == "worker-queue"


def test_periodic_task_without_task_name_answers_400(app: Any, ran: list[Any]) -> None:
    """The periodic route needs X-Aws-Sqsd-Taskname."""
    assert periodic(app, 400).json["status"] == "missing_task_name"
    assert ran == []


def test_periodic_task_of_unknown_job_answers_422(app: Any) -> None:
    """A cron.yaml name that is not a registered job: 422, without listing the jobs that exist."""
    response = periodic(app, 422, **{"X-Aws-Sqsd-Taskname": "weekly_report"})
    assert response.json["status"] == "unknown_job"
    assert b"nightly_report" not in response.body


def test_job_not_declared_periodic_is_refused(
    app: Any, ran: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Unsigned periodic requests only start @job(periodic=True) jobs; others get 422."""
    response = periodic(app, 422, **{"X-Aws-Sqsd-Taskname": "resize_image"})
    assert response.json["status"] == "not_periodic"
    assert "declare it with @job(periodic=True)" in caplog.text
    assert ran == []


def test_periodic_route_is_configurable(
    make_app: Callable[..., Any], make_queue: Any, ran: list[Any]
) -> None:
    """elasticjobs.periodic_tasks_route moves the route; the old path is the app's again."""
    app = make_app(**{"elasticjobs.periodic_tasks_route": "/cron"})
    task = {"X-Aws-Sqsd-Taskname": "nightly_report"}
    TestApp(app).post("/cron", b"", headers={**DAEMON, **task}, extra_environ=TRUSTED)
    assert [name for name, _, _ in ran] == ["nightly_report"]
    periodic(app, 404, **task)  # the old path is an ordinary (unrouted) URL again
    assert len(ran) == 1


# -- long delays ------------------------------------------------------------------


def test_early_message_is_resent_with_the_remaining_delay(
    app: Any, sqs: Any, make_queue: Any, ran: list[Any]
) -> None:
    """A job due in an hour arrives after 15 minutes: re-sent with the rest of its delay."""
    url = make_queue("default")
    get_client(app.registry).enqueue("noop", delay=3600)
    sent = sqs.receive_message(  # skip SQS's 900 s delay: fetch it as the daemon would later
        QueueUrl=url, AttributeNames=["All"], MessageAttributeNames=["All"], WaitTimeSeconds=0
    ).get("Messages", [])
    assert sent == []  # still delayed in SQS
    body, attributes = _delayed_message(app, url, sqs, seconds=3000)
    response = TestApp(app).post(
        "/",
        body,
        headers=daemon_headers(receive(sqs, url), "default") | attributes,
        extra_environ=TRUSTED,
        status=200,
    )
    assert response.json["status"] == "rescheduled"
    assert ran == []
    delayed = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]["ApproximateNumberOfMessagesDelayed"]
    assert int(delayed) == 2  # the original (still delayed) and the re-sent one


def _delayed_message(app: Any, url: str, sqs: Any, seconds: int) -> tuple[bytes, dict[str, str]]:
    """A signed envelope due in `seconds`, and a visible placeholder message to receive."""
    envelope = make_envelope(run_at=datetime.now(UTC) + timedelta(seconds=seconds))
    message = signed_message(get_runtime(app.registry), envelope.to_json(), envelope.name)
    sqs.send_message(QueueUrl=url, MessageBody="placeholder")
    headers = {f"X-Aws-Sqsd-Attr-{k}": v for k, v in message.attributes.items()}
    return message.body, headers


def test_message_due_now_runs(
    app: Any, make_queue: Any, send_envelope: Any, deliver: Any, ran: list[Any]
) -> None:
    """A long-delayed message that arrives at (or just before) its run_at runs."""
    url = make_queue("default")
    send_envelope(app, url, make_envelope(run_at=datetime.now(UTC) + timedelta(seconds=0.5)))
    assert deliver(app, url, status=200).json["status"] == "succeeded"
    assert len(ran) == 1
