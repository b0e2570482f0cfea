"""Everything attacker-influenced comes out escaped: job names, arguments, error messages,
message bodies and attributes, on every page that shows them."""

from __future__ import annotations

from typing import Any

import pytest
from webtest import TestApp

from pyramid_elasticjobs.audit.models import JobState
from pyramid_elasticjobs.audit.store import AuditStore
from tests.support import make_envelope

from .support import (
    PAYLOADS,
    Queues,
    assert_escaped,
    assert_shown_as_text,
    kill,
    page,
    record_job,
    send_raw,
    send_signed,
)


@pytest.fixture(params=PAYLOADS, ids=["script", "attribute", "javascript"])
def payload(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


def test_job_names_arguments_and_errors_are_escaped_on_every_page(
    payload: str, viewer: TestApp, store: AuditStore
) -> None:
    """The payload is shown (escaped) and never comes out as markup."""
    job_id = record_job(
        store,
        name=payload,
        arguments={"caption": payload, payload: 1},
        error=RuntimeError(payload),
    )
    for path in ("/", "/jobs", f"/jobs/{job_id}", "/failures"):
        assert_shown_as_text(viewer.get(page(path)), payload)
    assert_escaped(viewer.get(page("/health")).text)
    filtered = viewer.get(page("/jobs"), {"name": payload, "error": payload, "q": payload}).text
    assert_escaped(filtered)
    failures = viewer.get(page("/failures"), {"name": payload, "error": payload}).text
    assert_escaped(failures)


def test_dead_letter_bodies_attributes_and_errors_are_escaped(
    payload: str,
    viewer: TestApp,
    store: AuditStore,
    queues: Queues,
    sqs: Any,
    dashboard_app: Any,
) -> None:
    """A raw body, an attribute, a signed envelope's name and arguments, and the last error."""
    send_raw(sqs, queues.default, payload, {"x-payload": payload})
    kill(sqs, queues.default)
    envelope = make_envelope(payload, {"caption": payload})
    send_signed(sqs, dashboard_app, queues.default, envelope, {"x-note": payload})
    kill(sqs, queues.default)
    valid = make_envelope("resize_image", {"image_id": 3})
    send_signed(sqs, dashboard_app, queues.default, valid)
    kill(sqs, queues.default)
    record_job(store, job_id=valid.job_id, state=JobState.DEAD, error=RuntimeError(payload))

    for path in ("/dead-letters", "/"):
        assert_escaped(viewer.get(page(path)).text)
    text = viewer.get(page(f"/dead-letters/{queues.dead_name}"), {"job": payload}).text
    assert_escaped(text)
    shown = viewer.get(page(f"/dead-letters/{queues.dead_name}"))
    assert_shown_as_text(shown, payload)
    letters = shown.html.select("article.letter")
    assert len(letters) == 3
    for letter in letters:  # each: in a body, an attribute, a job name or an error
        assert payload in letter.get_text()
