"""The read-only pages: overview with SQS numbers, jobs list with filters and keyset pages,
job detail and enqueue-again, health, the live numbers, and SQS move tasks."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from webtest import TestApp

from pyramid_elasticjobs.audit.models import JobState
from pyramid_elasticjobs.audit.queries import AuditQueries
from pyramid_elasticjobs.audit.store import AuditStore
from pyramid_elasticjobs.jobs import REDACTED
from pyramid_elasticjobs.runtime import get_runtime

from .support import (
    OPERATOR,
    Queues,
    browser,
    csrf_token,
    dead_letter,
    page,
    queue_arn,
    record_job,
    visible,
)


def test_overview_counts_from_the_rollups_and_shows_each_queue_with_its_dead_letters(
    viewer: TestApp, store: AuditStore, queues: Queues, sqs: Any, dashboard_app: Any
) -> None:
    """Counts per outcome and job, and SQS's visible/in-flight/delayed per queue and DLQ."""
    record_job(store, state=JobState.SUCCEEDED)
    record_job(store, state=JobState.DEAD)
    dead_letter(sqs, dashboard_app, queues.default)

    response = viewer.get(page("/"))

    cards = {
        card.find(class_="label").text: card.find(class_="count").text
        for card in response.html.select(".card")
    }
    assert (cards["succeeded"], cards["dead"], cards["enqueued"]) == ("1", "1", "2")
    row = next(
        row
        for row in response.html.select("table.queues tbody tr")
        if row.th.get_text(strip=True) == queues.default_name
    )
    assert row.find(attrs={"data-live": "sqs/0/dlq_visible"}).text == "1"
    assert len(row.find_all("time")) == 2  # the oldest dead letter, and when SQS deletes it
    assert visible(sqs, queues.dead) == 1


def test_live_numbers_carry_the_totals_and_the_queue_counts(
    viewer: TestApp, store: AuditStore, queues: Queues, sqs: Any, dashboard_app: Any
) -> None:
    """live.json: the overview's numbers by the same paths as the page's data-live marks."""
    record_job(store, state=JobState.DEAD)
    dead_letter(sqs, dashboard_app, queues.default)

    data = viewer.get(page("/live.json"), {"period": "1h"}).json

    assert data["period"] == "1h"
    assert data["totals"]["dead"] == 1
    assert data["jobs"]["resize_image"]["dead"] == 1
    assert data["sqs"][0]["dlq_visible"] == 1  # the default queue's, first as on the page


def test_jobs_list_filters_and_pages_by_keyset(make_dashboard: Any) -> None:
    """Filters narrow the list; the pages follow each other with no job twice or missed."""
    app = make_dashboard(**{"elasticjobs.dashboard.page_size": "10"})
    from pyramid_elasticjobs.audit import get_audit_store

    store = get_audit_store(app.registry)
    dead = {record_job(store, state=JobState.DEAD) for _ in range(12)}
    record_job(store, state=JobState.SUCCEEDED)
    session = browser(app, OPERATOR)

    first = session.get(page("/jobs"), {"state": "dead"})
    ids = [small.text for small in first.html.select("tbody small.id")]
    assert len(ids) == 10
    older = first.html.find("a", rel="next")["href"]
    assert parse_qs(urlsplit(older).query)["state"] == ["dead"]
    second = session.get(older)
    ids += [small.text for small in second.html.select("tbody small.id")]
    assert set(ids) == dead
    assert len(ids) == 12
    assert second.html.find("a", rel="next") is None


def test_job_detail_shows_arguments_and_attempts(viewer: TestApp, store: AuditStore) -> None:
    """Arguments as recorded (redacted ones hidden), each attempt with its error."""
    job_id = record_job(
        store, arguments={"image_id": 4, "token": REDACTED}, error=RuntimeError("no disk")
    )

    response = viewer.get(page(f"/jobs/{job_id}"))

    assert '"image_id": 4' in response.html.get_text()
    assert REDACTED in response.html.get_text()
    (attempt,) = response.html.select("article.attempt")
    assert "RuntimeError" in attempt.text
    assert "no disk" in attempt.text
    viewer.get(page("/jobs/no-such-job"), status=404)


def test_enqueue_again_sends_a_new_job_and_records_who(
    operator: TestApp, store: AuditStore, queues: Queues, sqs: Any
) -> None:
    """A new job with the recorded arguments; the browser lands on it; the action is logged."""
    job_id = record_job(store, arguments={"image_id": 4, "width": 10})

    response = operator.post(
        page(f"/jobs/{job_id}/enqueue-again"),
        {"csrf_token": csrf_token(operator, f"/jobs/{job_id}")},
        status=303,
    )

    new_job = urlsplit(response.location).path.rsplit("/", 1)[-1]
    assert new_job != job_id
    assert visible(sqs, queues.images) == 1
    assert "Enqueued again" in response.follow().text
    (action,) = AuditQueries(store.engine).actions()
    assert (action.actor, action.action, action.job_id) == (OPERATOR, "enqueue_again", job_id)


def test_enqueue_again_is_refused_for_redacted_arguments(
    operator: TestApp, store: AuditStore, queues: Queues, sqs: Any
) -> None:
    """A job whose recorded arguments are redacted offers no button and sends nothing."""
    job_id = record_job(store, arguments={"image_id": REDACTED})
    shown = operator.get(page(f"/jobs/{job_id}"))
    assert "Cannot be enqueued again" in shown.text

    response = operator.post(
        page(f"/jobs/{job_id}/enqueue-again"),
        {"csrf_token": csrf_token(operator, "/failures")},  # this job's page has no form
        status=303,
    )

    assert parse_qs(urlsplit(response.location).query)["notice"] == ["cannot_enqueue_again"]
    assert visible(sqs, queues.images) == 0


def test_health_checks_each_queue_against_its_dead_letters_and_the_daemon(
    viewer: TestApp, queues: Queues
) -> None:
    """Redrive policy and maxReceiveCount, retention, visibility timeout; no policy warned."""
    response = viewer.get(page("/health"))

    queues_found = {
        article.header.strong.text: article for article in response.html.select("article")
    }
    default = queues_found[queues.default_name]
    warnings = [item.text for item in default.select("li.warning")]
    fine = [item.text for item in default.select("li.ok")]
    assert any("maxReceiveCount=2" in text and "MaxRetries: 10" in text for text in warnings)
    assert any("dead-letter retention 14.0 days" in text for text in fine)
    assert any("visibility timeout 30s" in text for text in warnings)
    images = queues_found[queues.images.rsplit("/", 1)[-1]]
    assert "no redrive policy" in images.text


def test_move_tasks_are_started_shown_and_cancelled_where_sqs_has_them(
    operator: TestApp, queues: Queues, sqs: Any, dashboard_app: Any, store: AuditStore
) -> None:
    """With SQS's move tasks (answered here in place of moto, which lacks them): the whole
    queue is moved by SQS, the running task shows with its progress and can be cancelled."""
    dead_letter(sqs, dashboard_app, queues.default)
    client = get_runtime(dashboard_app.registry).transport.client
    arn = queue_arn(sqs, queues.dead)
    calls: list[tuple[str, dict[str, Any]]] = []
    running = {
        "TaskHandle": "task-1",
        "Status": "RUNNING",
        "SourceArn": arn,
        "ApproximateNumberOfMessagesMoved": 3,
        "ApproximateNumberOfMessagesToMove": 9,
        "StartedTimestamp": 1_700_000_000_000,
    }
    answers = {
        "ListMessageMoveTasks": {"Results": [running]},
        "StartMessageMoveTask": {"TaskHandle": "task-1"},
        "CancelMessageMoveTask": {"ApproximateNumberOfMessagesMoved": 3},
    }

    def answer(model: Any, params: Any, **_: Any) -> Any:
        calls.append((model.name, params["body"]))
        return _HTTP200(), dict(answers[model.name])

    for operation in answers:
        client.meta.events.register(f"before-call.sqs.{operation}", answer)

    shown = operator.get(page(f"/dead-letters/{queues.dead_name}"))
    assert "RUNNING" in shown.text
    assert "Move the whole queue back (SQS move task)" in shown.text
    token = csrf_token(operator, f"/dead-letters/{queues.dead_name}")
    started = operator.post(
        page(f"/dead-letters/{queues.dead_name}/redrive-all"), {"csrf_token": token}, status=303
    )
    cancelled = operator.post(
        page(f"/dead-letters/{queues.dead_name}/cancel-move"),
        {"csrf_token": token, "task_handle": "task-1"},
        status=303,
    )

    assert parse_qs(urlsplit(started.location).query)["notice"] == ["move_started"]
    assert parse_qs(urlsplit(cancelled.location).query)["moved"] == ["3"]
    starts = [body for name, body in calls if name == "StartMessageMoveTask"]
    assert starts
    assert arn in str(starts[0])
    assert any(name == "CancelMessageMoveTask" for name, _ in calls)
    assert {(a.actor, a.action) for a in AuditQueries(store.engine).actions()} == {
        (OPERATOR, "move_started"),
        (OPERATOR, "move_cancelled"),
    }
    overview = operator.get(page("/"))
    assert "3 of 9 moved" in overview.text


class _HTTP200:
    """The HTTP response botocore expects beside a parsed answer."""

    status_code = 200
    headers: dict[str, str] = {}
