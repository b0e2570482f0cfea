"""With pyramid_tm, jobs leave after a commit and never after an abort, on both sides."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from pyramid.config import Configurator
from pyramid.request import Request
from webtest import TestApp

from pyramid_elasticjobs import EnqueuedJob, JobContext, PendingJob, get_client

from .support import closed_port_url, queue_depths, receive

HANDLES: list[Any] = []


class Rollback(Exception):
    """Raised by a view after enqueueing, to abort its transaction."""


def enqueue_view(request: Request) -> dict[str, str]:
    immediate = request.params.get("immediate") == "1"
    count = int(request.params.get("count", "1"))
    if "job" in request.params:
        arguments = {k: v for k, v in request.params.items() if k not in ("job", "immediate")}
        HANDLES.append(request.elasticjobs.enqueue(request.params["job"], **arguments))
    elif count == 1:
        HANDLES.append(request.elasticjobs.enqueue("noop", immediate=immediate))
    else:
        HANDLES.extend(request.elasticjobs.enqueue_many("noop", [{}] * count, immediate=immediate))
    if request.params.get("fail"):
        raise Rollback
    return {"status": HANDLES[-1].__class__.__name__}


def chaining_job(ctx: JobContext, fail: bool) -> None:
    """Enqueues a follow-up job, then succeeds or fails."""
    HANDLES.append(ctx.request.elasticjobs.enqueue("noop"))
    if fail:
        raise RuntimeError("chained job failed")


def with_tm(config: Configurator) -> None:
    from marshmallow import Schema, fields

    class Chain(Schema):
        fail = fields.Bool(load_default=False)

    class Credentials(Schema):
        user = fields.Str(required=True)
        password = fields.Str(required=True)

    config.include("pyramid_tm")
    config.add_route("enqueue", "/enqueue")
    config.add_view(enqueue_view, route_name="enqueue", renderer="json")
    config.add_job(chaining_job, schema=Chain, name="chain")
    config.add_job(lambda ctx, **_: None, schema=Credentials, name="sign_in", redact=("password",))
    config.add_view(
        lambda exc, request: request.response.__class__(status=500),
        context=Rollback,
    )


@pytest.fixture
def tm_app(make_app: Callable[..., Any], make_queue: Callable[..., str]) -> Any:
    HANDLES.clear()
    make_queue("default")
    yield make_app(with_tm)
    HANDLES.clear()


def test_enqueue_is_sent_after_commit(tm_app: Any, sqs: Any, make_queue: Any) -> None:
    """Inside a transaction enqueue returns a PendingJob that is sent when the view commits."""
    TestApp(tm_app).get("/enqueue", status=200)
    [handle] = HANDLES
    assert isinstance(handle, PendingJob)
    assert handle.status == "sent"
    assert receive(sqs, make_queue("default"))["MessageId"] == handle.message_id


def test_enqueue_is_dropped_on_abort(tm_app: Any, sqs: Any, make_queue: Any) -> None:
    """A view that fails after enqueueing sends nothing: the worker never sees rolled-back data."""
    TestApp(tm_app).get("/enqueue", {"fail": "1", "count": "3"}, status=500)
    assert [handle.status for handle in HANDLES] == ["dropped"] * 3
    assert all(handle.message_id is None for handle in HANDLES)
    assert queue_depths(sqs, make_queue("default")) == (0, 0)


def test_immediate_sends_inside_a_transaction(tm_app: Any, sqs: Any, make_queue: Any) -> None:
    """immediate=True sends at once, even if the transaction then aborts."""
    TestApp(tm_app).get("/enqueue", {"fail": "1", "immediate": "1"}, status=500)
    [handle] = HANDLES
    assert isinstance(handle, EnqueuedJob)
    assert queue_depths(sqs, make_queue("default")) == (1, 0)


def test_enqueue_many_is_sent_after_commit_in_batches(
    tm_app: Any, sqs: Any, make_queue: Any
) -> None:
    """enqueue_many inside a transaction sends every job after the commit."""
    TestApp(tm_app).get("/enqueue", {"count": "12"}, status=200)
    assert [handle.status for handle in HANDLES] == ["sent"] * 12
    assert queue_depths(sqs, make_queue("default")) == (12, 0)


def test_send_failing_after_commit_logs_the_arguments_redacted(
    make_app: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    """A send failing after the commit logs the job and its arguments, sensitive ones redacted."""
    HANDLES.clear()
    app = make_app(with_tm, **{"elasticjobs.endpoint_url": closed_port_url()})
    TestApp(app).get("/enqueue", {"job": "sign_in", "user": "ada", "password": "hunter2"})
    [handle] = HANDLES
    assert handle.status == "failed"
    [record] = [r for r in caplog.records if "committed but not sent" in r.getMessage()]
    assert record.levelno == logging.ERROR
    assert handle.job_id in record.getMessage()
    assert "job sign_in" in record.getMessage()
    assert '{"user":"ada","password":"[redacted]"}' in record.getMessage()
    assert "hunter2" not in caplog.text


def test_without_after_commit_setting_enqueue_is_immediate(
    make_app: Callable[..., Any], make_queue: Any
) -> None:
    """elasticjobs.enqueue_after_commit = false sends at once inside transactions."""
    make_queue("default")
    HANDLES.clear()
    app = make_app(with_tm, **{"elasticjobs.enqueue_after_commit": "false"})
    TestApp(app).get("/enqueue", {"fail": "1"}, status=500)
    assert isinstance(HANDLES[0], EnqueuedJob)


@pytest.mark.parametrize(("fail", "status", "sent"), [(False, 200, 1), (True, 500, 0)])
def test_job_runs_inside_the_request_transaction(
    tm_app: Any, sqs: Any, make_queue: Any, deliver: Any, fail: bool, status: int, sent: int
) -> None:
    """A job's own enqueues commit with it on success and are dropped when it fails."""
    url = make_queue("default")
    get_client(tm_app.registry).enqueue("chain", fail=fail)
    deliver(tm_app, url, status=status)
    assert HANDLES[0].status == ("dropped" if fail else "sent")
    assert queue_depths(sqs, url) == (sent, 0)
