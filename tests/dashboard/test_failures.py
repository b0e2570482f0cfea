"""The failures page: groups by job and exception class, filters, bulk retry and discard."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from webtest import TestApp

from pyramid_elasticjobs.audit.models import JobState
from pyramid_elasticjobs.audit.queries import AuditQueries
from pyramid_elasticjobs.audit.store import AuditStore
from pyramid_elasticjobs.jobs import REDACTED
from tests.support import receive

from .support import OPERATOR, Queues, csrf_token, page, record_job


class ImageServiceDown(Exception):
    """The error of one failure group."""


def test_failures_are_grouped_by_job_and_exception_class_with_counts_per_state(
    viewer: TestApp, store: AuditStore
) -> None:
    """Each (job, exception class) is one row, its dead/failed/rejected counts link to the jobs."""
    for _ in range(2):
        record_job(store, state=JobState.DEAD, error=ImageServiceDown("503"))
    record_job(store, state=JobState.FAILED, error=ImageServiceDown("503"))
    record_job(store, name="noop", queue="default", state=JobState.DEAD, error=KeyError("k"))
    record_job(store, state=JobState.SUCCEEDED)

    response = viewer.get(page("/failures"))

    rows = response.html.select("table.groups tbody tr")
    assert len(rows) == 2
    first = [cell.get_text(strip=True) for cell in rows[0].find_all(["th", "td"])]
    assert first[:5] == ["resize_image", f"{__name__}.ImageServiceDown", "1", "2", "0"]
    dead_link = rows[0].find_all("td")[2].find("a")["href"]
    query = parse_qs(urlsplit(dead_link).query)
    assert urlsplit(dead_link).path == page("/jobs")
    assert query["name"] == ["resize_image"]
    assert query["state"] == ["dead"]
    assert query["error"] == [f"{__name__}.ImageServiceDown"]
    assert "since" in query  # the period's start, so the list shows the same jobs


def test_failures_filter_by_job_exception_class_and_state(
    viewer: TestApp, store: AuditStore
) -> None:
    """The GET filters narrow the groups and the listed jobs, and stay in the form."""
    record_job(store, state=JobState.DEAD, error=ImageServiceDown("503"))
    record_job(store, state=JobState.DEAD, error=KeyError("k"))
    record_job(store, name="noop", queue="default", state=JobState.DEAD, error=KeyError("k"))

    response = viewer.get(
        page("/failures"), {"name": "resize_image", "error": "KeyError", "state": "dead"}
    )

    rows = response.html.select("table.groups tbody tr")
    assert [row.th.get_text(strip=True) for row in rows] == ["resize_image"]
    assert response.html.find("input", {"name": "error"})["value"] == "KeyError"
    assert response.html.find("option", selected=True, string="resize_image") is not None


def test_retry_enqueues_the_selection_again_and_skips_what_cannot_be_sent(
    operator: TestApp, store: AuditStore, queues: Queues, sqs: Any
) -> None:
    """Dead jobs go back to SQS as new jobs; redacted, unrecorded and failed ones are left."""
    retried = record_job(store, arguments={"image_id": 5, "width": 100})
    redacted = record_job(store, arguments={"image_id": 6, "width": REDACTED})
    unrecorded = record_job(store, arguments=None)
    still_retrying = record_job(store, state=JobState.FAILED, arguments={"image_id": 7})
    other = record_job(store, name="noop", queue="default", arguments={})

    response = operator.post(
        page("/failures/retry"),
        {"csrf_token": csrf_token(operator, "/failures"), "name": "resize_image"},
        status=303,
    )

    location = urlsplit(response.location)
    assert location.path == page("/failures")
    assert parse_qs(location.query) == {
        "name": ["resize_image"],
        "period": ["24h"],
        "notice": ["retried"],
        "done": ["1"],
        "skipped": ["2"],
        "failed": ["0"],
    }
    jobs = AuditQueries(store.engine).jobs_by_id(
        [retried, redacted, unrecorded, still_retrying, other]
    )
    assert jobs[retried].state == "retried"
    assert {jobs[job].state for job in (redacted, unrecorded)} == {"dead"}
    assert jobs[still_retrying].state == "failed"
    assert jobs[other].state == "dead"  # not in the selection
    sent = receive(sqs, queues.images)
    assert '"image_id":5' in sent["Body"]
    (action,) = AuditQueries(store.engine).actions()
    assert (action.actor, action.action, action.job_id) == (OPERATOR, "retried", retried)
    assert action.detail is not None
    assert action.detail["new_job_id"] in sent["Body"]

    shown = response.follow()
    assert "Enqueued again: 1 job(s)" in shown.text
    assert "some of its arguments are redacted" in shown.text
    assert "its arguments were not recorded" in shown.text


def test_discard_marks_the_filtered_selection_and_records_who(
    operator: TestApp, store: AuditStore
) -> None:
    """Discard changes only the selected failing jobs, one action record each."""
    selected = [
        record_job(store, state=state, error=ImageServiceDown("503"))
        for state in (JobState.DEAD, JobState.FAILED, JobState.REJECTED)
    ]
    other_error = record_job(store, error=KeyError("k"))
    succeeded = record_job(store, state=JobState.SUCCEEDED)
    error_class = f"{__name__}.ImageServiceDown"

    response = operator.post(
        page("/failures/discard"),
        {"csrf_token": csrf_token(operator, "/failures"), "error": error_class, "period": "7d"},
        status=303,
    )

    assert parse_qs(urlsplit(response.location).query)["done"] == [
        "2"
    ]  # a refusal records its class as "rejected"
    jobs = AuditQueries(store.engine).jobs_by_id([*selected, other_error, succeeded])
    assert [jobs[job].state for job in selected[:2]] == ["discarded", "discarded"]
    assert jobs[other_error].state == "dead"
    assert jobs[succeeded].state == "succeeded"
    actions = AuditQueries(store.engine).actions()
    assert {(action.actor, action.action) for action in actions} == {(OPERATOR, "discarded")}
    assert {action.job_id for action in actions} == set(selected[:2])


def test_an_action_sends_the_browser_back_to_the_same_filtered_list(
    operator: TestApp, store: AuditStore
) -> None:
    """Filters posted with an action come back in the redirect, and the page shows them."""
    record_job(store, state=JobState.REJECTED, error=KeyError("k"))
    filters = {
        "name": "resize_image",
        "queue": "images",
        "state": "rejected",
        "since": "2020-01-01T00:00",
        "until": "2099-01-01T00:00",
    }

    response = operator.post(
        page("/failures/discard"),
        {"csrf_token": csrf_token(operator, "/failures"), **filters},
        status=303,
    )

    query = parse_qs(urlsplit(response.location).query)
    assert {key: query[key] for key in filters} == {key: [value] for key, value in filters.items()}
    shown = response.follow()
    assert shown.html.find("input", {"name": "since"})["value"] == "2020-01-01T00:00"
    assert "Discarded: 1 job(s)" in shown.text


def test_the_actions_act_on_the_selection_shown_by_the_page_forms(
    operator: TestApp, store: AuditStore
) -> None:
    """The page's retry form carries the page's filters, so it acts on what is shown."""
    record_job(store, state=JobState.DEAD, error=KeyError("k"))

    response = operator.get(page("/failures"), {"name": "resize_image", "period": "1h"})

    form = next(form for form in response.forms.values() if form.action.endswith("/retry"))
    assert form["name"].value == "resize_image"
    assert form["period"].value == "1h"
    assert form.fields["csrf_token"][0].value
