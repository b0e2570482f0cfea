"""Dead letters: found from redrive policies, sampled and released, decoded, joined to the
audit log, and every action on them (each recorded with who did it)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

from webtest import TestApp

from pyramid_elasticjobs.audit.models import JobState
from pyramid_elasticjobs.audit.queries import AuditQueries
from pyramid_elasticjobs.audit.store import AuditStore
from pyramid_elasticjobs.protocol import SIGNATURE_ATTRIBUTE
from pyramid_elasticjobs.runtime import get_runtime
from tests.support import make_envelope

from .support import (
    OPERATOR,
    Queues,
    bodies,
    browser,
    csrf_token,
    dead_letter,
    kill,
    message_ids,
    page,
    record_job,
    send_raw,
    visible,
)


class ImageServiceDown(Exception):
    """Why the test's jobs died."""


def queue_page(queues: Queues) -> str:
    return page(f"/dead-letters/{queues.dead_name}")


def act(session: TestApp, queues: Queues, action: str, **fields: Any) -> Any:
    """POST one of the queue page's actions with the session's CSRF token."""
    token = csrf_token(session, f"/dead-letters/{queues.dead_name}")
    return session.post(
        page(f"/dead-letters/{queues.dead_name}/{action}"),
        {"csrf_token": token, **fields},
        status=303,
    )


def test_index_lists_each_job_queue_with_its_dead_letter_queue(
    viewer: TestApp, queues: Queues, sqs: Any, dashboard_app: Any
) -> None:
    """Counts, maxReceiveCount, the oldest dead letter and its deadline; no policy said."""
    dead_letter(sqs, dashboard_app, queues.default)

    response = viewer.get(page("/dead-letters"))

    rows = {
        row.th.get_text(strip=True): row for row in response.html.select("table.queues tbody tr")
    }
    default = rows[queues.default_name]
    assert default.find("a", string=queues.dead_name) is not None
    assert "after 2 receives" in default.text
    cells = [cell.get_text(strip=True) for cell in default.find_all("td")]
    assert cells[4:7] == ["1", "0", "0"]  # the dead-letter queue: one visible
    assert default.find_all("time")  # the oldest and SQS's deadline for it
    assert "no redrive policy" in rows[queues.images.rsplit("/", 1)[-1]].text
    assert visible(sqs, queues.dead) == 1  # sampled for the oldest, and released


def test_queue_page_decodes_each_message_and_says_why_it_died(
    viewer: TestApp, queues: Queues, sqs: Any, dashboard_app: Any, store: AuditStore
) -> None:
    """Job, arguments, valid signature and schema, and the audit log's last error by job id."""
    envelope = dead_letter(sqs, dashboard_app, queues.default, arguments={"image_id": 7})
    record_job(store, job_id=envelope.job_id, error=ImageServiceDown("the image service is down"))

    response = viewer.get(queue_page(queues))

    (letter,) = response.html.select("article.letter")
    assert "resize_image" in letter.header.text
    assert "signature valid" in letter.header.text
    assert letter.find(class_="state-valid") is not None
    assert f"{__name__}.ImageServiceDown: the image service is down" in letter.text
    assert json.loads(letter.find("pre", class_="json").text) == {"image_id": 7}
    assert letter.find("a", href="http://localhost" + page(f"/jobs/{envelope.job_id}"))
    assert visible(sqs, queues.dead) == 1  # released after sampling
    (message_id,) = message_ids(sqs, queues.dead)
    snapshot = AuditQueries(store.engine).dead_letter(queues.dead_name, message_id)
    assert snapshot is not None
    assert snapshot.job_id == envelope.job_id


def test_queue_page_flags_forged_signatures_and_arguments_the_current_schema_refuses(
    viewer: TestApp, queues: Queues, sqs: Any, dashboard_app: Any
) -> None:
    """A bad signature and arguments invalid against today's schema are said, with errors."""
    dead_letter(sqs, dashboard_app, queues.default, arguments={"image_id": "seven"})
    forged = make_envelope("resize_image", {"image_id": 1}).to_json().decode()
    send_raw(sqs, queues.default, forged, {SIGNATURE_ATTRIBUTE: "0" * 64})
    kill(sqs, queues.default)

    response = viewer.get(queue_page(queues), {"verdict": "bad_signature"})
    (letter,) = response.html.select("article.letter")
    assert "signature INVALID" in letter.header.text

    response = viewer.get(queue_page(queues), {"verdict": "invalid_arguments"})
    (letter,) = response.html.select("article.letter")
    assert "invalid_arguments" in letter.header.text
    assert "signature valid" in letter.header.text
    assert "Not a valid integer" in letter.text  # the schema's own message, per field


def test_a_live_queue_is_never_browsed(
    viewer: TestApp, queues: Queues, sqs: Any, dashboard_app: Any
) -> None:
    """A queue no redrive policy names answers 404, and its messages are not received."""
    send_raw(sqs, queues.images, "{}", {})
    images = queues.images.rsplit("/", 1)[-1]

    viewer.get(page(f"/dead-letters/{images}"), status=404)

    (message,) = sqs.receive_message(
        QueueUrl=queues.images, AttributeNames=["ApproximateReceiveCount"]
    )["Messages"]
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"  # this receive only


def test_redrive_one_sends_it_back_then_deletes_it_and_records_who(
    operator: TestApp, queues: Queues, sqs: Any, dashboard_app: Any, store: AuditStore
) -> None:
    """The message is in the source queue, no longer in the dead-letter queue, and logged."""
    envelope = dead_letter(sqs, dashboard_app, queues.default)
    (message_id,) = message_ids(sqs, queues.dead)

    response = act(operator, queues, "redrive", message_id=message_id, job="resize_image")

    query = parse_qs(urlsplit(response.location).query)
    assert query["notice"] == ["redriven"]
    assert query["redriven"] == ["1"]
    assert query["job"] == ["resize_image"]  # the page's filter, kept
    assert visible(sqs, queues.dead) == 0
    assert [body["id"] for body in bodies(sqs, queues.default)] == [envelope.job_id]
    (action,) = AuditQueries(store.engine).actions(queue=queues.dead_name)
    assert (action.actor, action.action, action.message_id) == (OPERATOR, "redriven", message_id)
    assert "Redriven 1" in response.follow().text


def test_redrive_selected_sends_the_valid_ones_and_lists_the_skipped(
    operator: TestApp, queues: Queues, sqs: Any, dashboard_app: Any
) -> None:
    """Of the selected messages, one that would fail again is left and named."""
    dead_letter(sqs, dashboard_app, queues.default, arguments={"image_id": 1})
    dead_letter(sqs, dashboard_app, queues.default, arguments={"image_id": "bad"})
    selected = message_ids(sqs, queues.dead)

    token = csrf_token(operator, f"/dead-letters/{queues.dead_name}")
    response = operator.post(
        page(f"/dead-letters/{queues.dead_name}/redrive"),
        [("csrf_token", token), *(("message_id", mid) for mid in selected)],
        status=303,
    )

    query = parse_qs(urlsplit(response.location).query)
    assert (query["redriven"], query["skipped"]) == (["1"], ["1"])
    assert visible(sqs, queues.dead) == 1
    assert query["skipped_id"] == message_ids(sqs, queues.dead)
    assert f"skipped: {query['skipped_id'][0]}" in response.follow().html.text.replace("\n", "")


def test_redrive_matching_redrives_what_the_filter_selects_and_skips_invalid_ones(
    operator: TestApp, queues: Queues, sqs: Any, dashboard_app: Any
) -> None:
    """Only the filtered job's valid messages move; the invalid one and other jobs stay."""
    dead_letter(sqs, dashboard_app, queues.default, arguments={"image_id": 1})
    dead_letter(sqs, dashboard_app, queues.default, arguments={"image_id": 2})
    dead_letter(sqs, dashboard_app, queues.default, arguments={"image_id": "bad"})
    dead_letter(sqs, dashboard_app, queues.default, name="noop", arguments={})

    response = act(operator, queues, "redrive-matching", job="resize_image")

    query = parse_qs(urlsplit(response.location).query)
    assert (query["redriven"], query["skipped"], query["scanned"]) == (["2"], ["1"], ["4"])
    assert query["total"] == ["4"]
    assert query["job"] == ["resize_image"]
    assert visible(sqs, queues.dead) == 2
    assert sorted(body["args"]["image_id"] for body in bodies(sqs, queues.default)) == [1, 2]


def test_redrive_matching_works_in_batches_and_offers_to_go_on(
    make_dashboard: Any, queues: Queues, sqs: Any
) -> None:
    """With more messages than one request looks at, the page says more remain."""
    app = make_dashboard(**{"elasticjobs.dashboard.redrive_batch": "2"})
    for image_id in range(3):
        dead_letter(sqs, app, queues.default, arguments={"image_id": image_id})
    session = browser(app, OPERATOR)

    response = act(session, queues, "redrive-matching")

    query = parse_qs(urlsplit(response.location).query)
    assert (query["redriven"], query["more"]) == (["2"], ["1"])
    assert "More remain" in response.follow().text
    assert "more" not in parse_qs(urlsplit(act(session, queues, "redrive-matching").location).query)
    assert visible(sqs, queues.dead) == 0


def test_redrive_all_goes_message_by_message_where_sqs_has_no_move_tasks(
    operator: TestApp, queues: Queues, sqs: Any, dashboard_app: Any
) -> None:
    """moto lacks StartMessageMoveTask: the whole queue is redriven by our checked copy."""
    dead_letter(sqs, dashboard_app, queues.default, arguments={"image_id": 1})
    dead_letter(sqs, dashboard_app, queues.default, arguments={"image_id": "bad"})

    page_text = operator.get(queue_page(queues)).text
    assert "no message move tasks" in page_text

    response = act(operator, queues, "redrive-all")

    query = parse_qs(urlsplit(response.location).query)
    assert (query["redriven"], query["skipped"]) == (["1"], ["1"])
    assert visible(sqs, queues.dead) == 1


def test_delete_one_removes_it_for_good_and_records_who(
    operator: TestApp, queues: Queues, sqs: Any, dashboard_app: Any, store: AuditStore
) -> None:
    """The message is gone from both queues; the action names the operator."""
    dead_letter(sqs, dashboard_app, queues.default)
    (message_id,) = message_ids(sqs, queues.dead)

    response = act(operator, queues, "delete", message_id=message_id)

    assert parse_qs(urlsplit(response.location).query)["notice"] == ["deleted"]
    assert visible(sqs, queues.dead) == visible(sqs, queues.default) == 0
    (action,) = AuditQueries(store.engine).actions(queue=queues.dead_name)
    assert (action.actor, action.action) == (OPERATOR, "deleted")


def test_purge_needs_the_queue_name_typed(
    operator: TestApp, queues: Queues, sqs: Any, dashboard_app: Any, store: AuditStore
) -> None:
    """A wrong confirmation purges nothing; the queue's exact name purges it."""
    dead_letter(sqs, dashboard_app, queues.default)

    refused = act(operator, queues, "purge", confirm="yes")
    assert parse_qs(urlsplit(refused.location).query)["notice"] == ["purge_not_confirmed"]
    assert visible(sqs, queues.dead) == 1

    done = act(operator, queues, "purge", confirm=queues.dead_name)
    assert parse_qs(urlsplit(done.location).query)["notice"] == ["purged"]
    assert visible(sqs, queues.dead) == 0
    (action,) = AuditQueries(store.engine).actions(queue=queues.dead_name)
    assert (action.actor, action.action) == (OPERATOR, "purged")


def test_edit_and_redrive_checks_the_schema_signs_anew_and_links_both(
    operator: TestApp, queues: Queues, sqs: Any, dashboard_app: Any, store: AuditStore
) -> None:
    """Invalid arguments re-show the form with errors; valid ones go out as a new, signed job."""
    envelope = dead_letter(sqs, dashboard_app, queues.default, arguments={"image_id": "bad"})
    operator.get(queue_page(queues))  # sampled: its snapshot is in the audit log
    (message_id,) = message_ids(sqs, queues.dead)
    edit_url = page(f"/dead-letters/{queues.dead_name}/edit")

    form = operator.get(edit_url, {"message_id": message_id}).forms["edit"]
    assert json.loads(form["arguments"].value) == {"image_id": "bad"}
    form["arguments"] = '{"image_id": "still bad"}'
    refused = form.submit(status=400)
    assert "Not a valid integer" in refused.text
    assert visible(sqs, queues.dead) == 1

    form = refused.forms["edit"]
    form["arguments"] = '{"image_id": 8, "width": 64}'
    done = form.submit(status=303)

    assert parse_qs(urlsplit(done.location).query)["notice"] == ["edited"]
    assert visible(sqs, queues.dead) == 0
    # A new job goes where the job is sent today: resize_image's queue.
    (sent,) = sqs.receive_message(
        QueueUrl=queues.images, MessageAttributeNames=["All"], VisibilityTimeout=0
    )["Messages"]
    body = json.loads(sent["Body"])
    assert body["args"] == {"image_id": 8, "width": 64}
    assert body["id"] != envelope.job_id
    signature = sent["MessageAttributes"][SIGNATURE_ATTRIBUTE]["StringValue"]
    assert get_runtime(dashboard_app.registry).signer.verify(sent["Body"].encode(), signature)
    (action,) = AuditQueries(store.engine).actions(queue=queues.dead_name)
    assert (action.actor, action.action, action.job_id) == (OPERATOR, "edited", envelope.job_id)
    assert action.detail is not None
    assert action.detail["new_job_id"] == body["id"]
    assert AuditQueries(store.engine).dead_letter(queues.dead_name, message_id) is not None


def test_an_action_on_a_message_already_gone_says_so(
    operator: TestApp, queues: Queues, sqs: Any, dashboard_app: Any
) -> None:
    """Redriving a message someone else deleted meanwhile reports it as not found."""
    dead_letter(sqs, dashboard_app, queues.default)

    response = act(operator, queues, "delete", message_id="no-such-message")

    assert parse_qs(urlsplit(response.location).query)["notice"] == ["not_found"]
    assert visible(sqs, queues.dead) == 1


def test_the_dead_job_state_shows_on_the_job_page_too(viewer: TestApp, store: AuditStore) -> None:
    """A dead job's page shows its state: the link target of a dead letter's job id."""
    job_id = record_job(store, state=JobState.DEAD)

    assert "state-dead" in viewer.get(page(f"/jobs/{job_id}")).text
