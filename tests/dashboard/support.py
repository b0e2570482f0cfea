"""Helpers of the dashboard's tests: a real security policy, operators, audit records, dead
letters made the way SQS makes them, and XSS payloads.

Fixtures live in conftest.py; the test modules import helpers from here, never from conftest.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pyramid.authorization import ACLHelper, Allow, Authenticated, Everyone
from pyramid.request import Request
from webtest import TestApp

from pyramid_elasticjobs.audit.models import JobState, Outcome
from pyramid_elasticjobs.audit.store import AttemptFacts, AuditStore, JobFacts
from pyramid_elasticjobs.envelope import Envelope
from pyramid_elasticjobs.runtime import get_runtime
from pyramid_elasticjobs.signing import signed_message
from tests.support import make_envelope

#: The header the test security policy reads the user from (a stand-in for a login cookie).
USER_HEADER = "X-Test-User"
VIEWER = "vera"  # may look
OPERATOR = "otto"  # may look and act
NOBODY = "nina"  # logged in, no permission at all
GROUPS = {VIEWER: ["group:viewers"], OPERATOR: ["group:operators"], NOBODY: []}
MOUNT = "/elasticjobs"
DEAD_LETTER_SUFFIX = "default-dead"
MAX_RECEIVE_COUNT = 2

#: Attacker-influenced text, each breaking out of a different context if not escaped.
PAYLOADS = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'};alert(1)//",
)
#: What must never appear in a page: the payloads' markup, unescaped.
UNESCAPED = ("<script>alert", "<img src=x", "'};alert")


class Root:
    """The application's root: viewers may look, operators may look and act."""

    __acl__ = [
        (Allow, "group:viewers", "elasticjobs.view"),
        (Allow, "group:operators", ("elasticjobs.view", "elasticjobs.manage")),
    ]

    def __init__(self, request: Request) -> None:
        self.request = request


class HeaderSecurityPolicy:
    """A real ISecurityPolicy: who from a header, what they may do from the context's ACL."""

    def identity(self, request: Request) -> str | None:
        user = request.headers.get(USER_HEADER)
        return user if user in GROUPS else None

    def authenticated_userid(self, request: Request) -> str | None:
        return self.identity(request)

    def permits(self, request: Request, context: Any, permission: str) -> Any:
        user = self.identity(request)
        principals = [Everyone]
        if user is not None:
            principals += [Authenticated, f"user:{user}", *GROUPS[user]]
        return ACLHelper().permits(context, principals, permission)

    def remember(self, request: Request, userid: Any, **kw: Any) -> list[tuple[str, str]]:
        return []

    def forget(self, request: Request, **kw: Any) -> list[tuple[str, str]]:
        return []


def browser(app: Any, user: str | None) -> TestApp:
    """A browser session of ``user`` (cookies kept; None: not logged in)."""
    environ = {"REMOTE_ADDR": "127.0.0.1"}
    if user:
        environ["HTTP_" + USER_HEADER.upper().replace("-", "_")] = user
    return TestApp(app, extra_environ=environ)


def page(path: str = "/") -> str:
    return MOUNT + path if path != "/" else MOUNT + "/"


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(session: TestApp, path: str = "/jobs") -> str:
    """The CSRF token the dashboard put in its forms for this session."""
    found = _CSRF.search(session.get(page(path)).text)
    if found is None:
        raise AssertionError(f"no CSRF token in the forms of {path}")
    return found.group(1)


def assert_escaped(text: str) -> None:
    """No payload came out as markup (it may come out escaped)."""
    for marker in UNESCAPED:
        assert marker not in text, f"{marker!r} is not escaped"


# --- the audit log -----------------------------------------------------------------------


def record_job(
    store: AuditStore,
    *,
    name: str = "resize_image",
    queue: str = "images",
    state: JobState = JobState.DEAD,
    arguments: dict[str, Any] | None = None,
    error: BaseException | None = None,
    job_id: str | None = None,
    message_id: str | None = None,
    at: datetime | None = None,
) -> str:
    """A job in the audit log, enqueued and (unless ``state`` is enqueued) ended in ``state``."""
    facts = JobFacts(
        job_id=job_id or uuid.uuid4().hex,
        name=name,
        queue=queue,
        arguments=arguments,
        enqueued_at=at or datetime.now(UTC),
        run_at=None,
        message_id=message_id or uuid.uuid4().hex,
    )
    store.job_enqueued(facts)
    if state is JobState.ENQUEUED:
        return facts.job_id
    outcome = {
        JobState.SUCCEEDED: Outcome.SUCCEEDED,
        JobState.FAILED: Outcome.FAILED,
        JobState.DEAD: Outcome.FAILED,
        JobState.DISCARDED: Outcome.DISCARDED,
        JobState.REJECTED: Outcome.REJECTED,
    }[state]
    started = at or datetime.now(UTC)
    failure = error if error is not None else _default_error(state)
    store.attempt_ended(
        facts,
        AttemptFacts(
            receive_count=MAX_RECEIVE_COUNT,
            started_at=started,
            finished_at=started + timedelta(milliseconds=5),
            duration=0.005,
            outcome=outcome,
            status=500 if failure else 200,
            error=failure if state is not JobState.REJECTED else None,
            reason=str(failure) if state is JobState.REJECTED and failure else None,
        ),
        state,
    )
    return facts.job_id


def _default_error(state: JobState) -> BaseException | None:
    if state in (JobState.FAILED, JobState.DEAD):
        return TimeoutError("the image service did not answer")
    if state is JobState.REJECTED:
        return ValueError("arguments do not match the schema")
    return None


# --- SQS -------------------------------------------------------------------------------------


def queue_arn(sqs: Any, url: str) -> str:
    arn: str = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return arn


def redrive_policy(sqs: Any, dead_letter_url: str, max_receive_count: int) -> str:
    return json.dumps(
        {
            "deadLetterTargetArn": queue_arn(sqs, dead_letter_url),
            "maxReceiveCount": str(max_receive_count),
        }
    )


def kill(sqs: Any, url: str, max_receive_count: int = MAX_RECEIVE_COUNT) -> None:
    """Receive a queue's only message until SQS moves it to the dead-letter queue, as the
    daemon does when every delivery fails (moto moves it on the receive after the last)."""
    for _ in range(max_receive_count):
        assert len(sqs.receive_message(QueueUrl=url, VisibilityTimeout=0).get("Messages", [])) == 1
    assert sqs.receive_message(QueueUrl=url, VisibilityTimeout=0).get("Messages", []) == []


def send_signed(
    sqs: Any, app: Any, url: str, envelope: Envelope, extra: dict[str, str] | None = None
) -> str:
    """An envelope signed with the app's secret, sent to ``url``; its message id."""
    message = signed_message(get_runtime(app.registry), envelope.to_json(), envelope.name)
    attributes = {**dict(message.attributes), **(extra or {})}
    message_id: str = sqs.send_message(
        QueueUrl=url,
        MessageBody=message.body.decode(),
        MessageAttributes={
            name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()
        },
    )["MessageId"]
    return message_id


def dead_letter(
    sqs: Any,
    app: Any,
    source_url: str,
    name: str = "resize_image",
    arguments: dict[str, Any] | None = None,
    **fields: Any,
) -> Envelope:
    """A signed job that died: sent to ``source_url`` and failed into its dead-letter queue."""
    envelope = make_envelope(
        name, arguments if arguments is not None else {"image_id": 7}, **fields
    )
    send_signed(sqs, app, source_url, envelope)
    kill(sqs, source_url)
    return envelope


def visible(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def bodies(sqs: Any, url: str) -> list[dict[str, Any]]:
    """The JSON bodies of every visible message (received, then released again)."""
    messages = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0, MessageAttributeNames=["All"]
    ).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


@dataclass(frozen=True)
class Queues:
    """The test's queues: ``default`` dies into ``dead``; ``images`` has no redrive policy."""

    default: str
    dead: str
    images: str

    @property
    def dead_name(self) -> str:
        return self.dead.rsplit("/", 1)[-1]

    @property
    def default_name(self) -> str:
        return self.default.rsplit("/", 1)[-1]


def message_ids(sqs: Any, url: str) -> list[str]:
    """The ids of a queue's visible messages (received and released at once)."""
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get(
        "Messages", []
    )
    return sorted(message["MessageId"] for message in messages)


def send_raw(sqs: Any, url: str, body: str, attributes: dict[str, str]) -> str:
    """Any body and attributes, as an attacker with access to the queue could send."""
    message_id: str = sqs.send_message(
        QueueUrl=url,
        MessageBody=body,
        MessageAttributes={
            name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()
        },
    )["MessageId"]
    return message_id


#: Every page, as a path template over a World's fields.
PAGES = (
    "/",
    "/jobs",
    "/jobs/{job_id}",
    "/failures",
    "/dead-letters",
    "/dead-letters/{dead}",
    "/health",
    "/live.json",
)
#: Pages for those who may act: the edit form of a dead letter.
MANAGE_PAGES = ("/dead-letters/{dead}/edit?message_id={message_id}",)
#: Every action, as a path template.
ACTIONS = (
    "/jobs/{job_id}/enqueue-again",
    "/failures/retry",
    "/failures/discard",
    "/dead-letters/{dead}/redrive",
    "/dead-letters/{dead}/redrive-matching",
    "/dead-letters/{dead}/redrive-all",
    "/dead-letters/{dead}/cancel-move",
    "/dead-letters/{dead}/delete",
    "/dead-letters/{dead}/purge",
    "/dead-letters/{dead}/edit",
)


@dataclass(frozen=True)
class World:
    """A dashboard with something on every page: a dead job and its dead letter."""

    job_id: str
    dead: str  # the dead-letter queue's name
    message_id: str

    def path(self, template: str) -> str:
        return page(template.format(job_id=self.job_id, dead=self.dead, message_id=self.message_id))

    def fields(self) -> dict[str, str]:
        """What any action could want: enough for each to act if it were let through."""
        return {
            "message_id": self.message_id,
            "confirm": self.dead,
            "task_handle": "handle",
            "arguments": '{"image_id": 1}',
            "name": "resize_image",
        }


def assert_shown_as_text(response: Any, payload: str) -> None:
    """The payload is on the page as text, escaped, and made no element of its own."""
    assert_escaped(response.text)
    assert payload in response.html.get_text(), "the payload is not shown"
    assert response.html.find("img") is None
    assert all(script.get("src") for script in response.html.find_all("script"))
