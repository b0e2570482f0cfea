"""Who can make the worker run a job: a spoofing matrix over real SQS messages, and a fuzz.

Each matrix case enqueues a job through the client into moto's SQS, receives it as
the daemon would and POSTs it with one thing changed: the User-Agent, the source
address, the signature, the body, a setting. The expected answer names the worker's
JSON ``status``, or ``None`` when the request must reach the application untouched.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from webtest import TestApp

from pyramid_elasticjobs import get_client
from pyramid_elasticjobs.daemon.headers import daemon_headers
from pyramid_elasticjobs.envelope import Envelope
from pyramid_elasticjobs.protocol import ORIGIN, ORIGIN_ATTRIBUTE, SIGNATURE_ATTRIBUTE
from pyramid_elasticjobs.runtime import get_runtime

from .support import OLD_SECRET, SECRET, receive

SIGNATURE_HEADER = f"X-Aws-Sqsd-Attr-{SIGNATURE_ATTRIBUTE}"
ORIGIN_HEADER = f"X-Aws-Sqsd-Attr-{ORIGIN_ATTRIBUTE}"
TASK_NAME_HEADER = "X-Aws-Sqsd-Taskname"
PERIODIC_ROUTE = "/periodic_tasks"
#: What the conftest application's home view answers to anything the worker passes on.
HOME = {"app": "home"}
IMAGE_ID = 7
JOB_RUN = ("resize_image", {"image_id": IMAGE_ID, "width": 800})

Runs = list[tuple[str, Any, dict[str, Any]]]


@dataclass(frozen=True)
class Answer:
    """The status code, and our JSON ``status`` (``None``: the application answered)."""

    code: int
    outcome: str | None


PROCESSED = Answer(200, "succeeded")
PASSED_ON = Answer(200, None)
UNTRUSTED = Answer(403, "untrusted_source")
FORGED = Answer(403, "invalid_signature")
SOURCE_UNKNOWN = Answer(403, "source_unknown")
#: What waitress says of itself; it deletes X-Forwarded-For and Forwarded it does not trust.
WAITRESS = {"SERVER_SOFTWARE": "waitress"}
NOT_POST = Answer(405, "method_not_allowed")


@dataclass(frozen=True)
class Message:
    """One real delivery: a message enqueued through the client and received from SQS."""

    body: bytes
    headers: Mapping[str, str]
    job_id: str
    other_signature: str  # the valid signature of a different message

    @property
    def signature(self) -> str:
        return self.headers[SIGNATURE_HEADER]


def _envelope_bytes(document: Mapping[str, Any]) -> bytes:
    """JSON encoded exactly as the client encodes envelopes."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def _other_argument(body: bytes) -> bytes:
    document = json.loads(body)
    document["args"]["image_id"] += 1
    return _envelope_bytes(document)


def _keys_reversed(body: bytes) -> bytes:
    return _envelope_bytes(dict(reversed(json.loads(body).items())))


def _last_digit_changed(signature: str) -> str:
    return signature[:-1] + ("1" if signature[-1] == "0" else "0")


@dataclass(frozen=True)
class Case:
    """A delivery with one thing changed, and the answer that must come back."""

    id: str
    expected: Answer
    headers: Mapping[str, str] = field(default_factory=dict)  # added or replaced
    drop: tuple[str, ...] = ()
    rename: Mapping[str, str] = field(default_factory=dict)
    environ: Mapping[str, str] = field(default_factory=dict)  # over REMOTE_ADDR=127.0.0.1
    body: Callable[[bytes], bytes] | None = None
    signature: Callable[[Message], str] | None = None
    method: str = "POST"
    sender: Mapping[str, str] = field(default_factory=dict)  # settings of the enqueuing app
    worker: Mapping[str, str] | None = None  # settings of the worker app; None: the sender


def _agent(user_agent: str, expected: Answer) -> Case:
    return Case(f"user-agent {user_agent!r}", expected, headers={"User-Agent": user_agent})


def _peer(address: str, expected: Answer) -> Case:
    return Case(f"REMOTE_ADDR {address!r}", expected, environ={"REMOTE_ADDR": address})


def _forwarded(chain: str, expected: Answer) -> Case:
    return Case(f"X-Forwarded-For {chain!r}", expected, headers={"X-Forwarded-For": chain})


ROTATED_SECRETS = {"elasticjobs.secret": f"{SECRET} {OLD_SECRET}"}
SIGNED_WITH_OLD_SECRET = {"elasticjobs.secret": OLD_SECRET}

CASES = [
    *(
        _agent(agent, PROCESSED)
        for agent in (
            "aws-sqsd/3.0.3",
            "aws-sqsd/1.1",
            "aws-sqsd/2.4",
            "aws-sqsd",
            "sqsd",
            "sqsd/0.1",
            "AWS-SQSD/3.0",
        )
    ),
    *(
        _agent(agent, PASSED_ON)
        for agent in ("curl/8", "sqsdx/1", "Mozilla aws-sqsd/3", "aws-sqsdfake")
    ),
    Case("user-agent missing", PASSED_ON, drop=("User-Agent",)),
    *(
        _peer(address, PROCESSED)
        for address in ("127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1")
    ),
    *(
        _peer(address, UNTRUSTED)
        for address in ("10.0.0.5", "172.17.0.1", "2001:db8::1", "", "not-an-ip")
    ),
    _forwarded("127.0.0.1", PROCESSED),
    # nginx on the instance: the peer is 127.0.0.1, the client is on the internet.
    _forwarded("203.0.113.9", UNTRUSTED),
    # A client that claims to be local; nginx appends its real address.
    _forwarded("127.0.0.1, 203.0.113.9", UNTRUSTED),
    _forwarded("203.0.113.9, 127.0.0.1", UNTRUSTED),
    Case("X-Real-IP of an internet client", UNTRUSTED, headers={"X-Real-IP": "198.51.100.7"}),
    Case("RFC 7239 Forwarded for loopback", PROCESSED, headers={"Forwarded": "for=127.0.0.1"}),
    Case(
        "RFC 7239 Forwarded of an internet client",
        UNTRUSTED,
        headers={"Forwarded": 'for=127.0.0.1;proto=http, for="[2001:db8::7]:4711"'},
    ),
    Case(
        "RFC 7239 Forwarded with spaces around '='",
        UNTRUSTED,
        headers={"Forwarded": "for = 8.8.8.8"},
    ),
    Case(
        "RFC 7239 Forwarded that does not parse", UNTRUSTED, headers={"Forwarded": "for=1.2.3.4 x"}
    ),
    Case("RFC 7239 Forwarded without for", UNTRUSTED, headers={"Forwarded": "proto=https"}),
    Case("under waitress, no forwarding header left", SOURCE_UNKNOWN, environ=WAITRESS),
    Case(
        "under waitress, remote_addr_is_client",
        PROCESSED,
        environ=WAITRESS,
        worker={"elasticjobs.remote_addr_is_client": "true"},
    ),
    Case(
        "under waitress, X-Real-IP from nginx",
        PROCESSED,
        environ=WAITRESS,
        headers={"X-Real-IP": "127.0.0.1"},
    ),
    Case(
        "under waitress, X-Real-IP of an internet client",
        UNTRUSTED,
        environ=WAITRESS,
        headers={"X-Real-IP": "198.51.100.7"},
        worker={"elasticjobs.remote_addr_is_client": "true"},
    ),
    Case(
        "docker bridge gateway in trusted_networks",
        PROCESSED,
        environ={"REMOTE_ADDR": "172.17.0.1"},
        worker={"elasticjobs.trusted_networks": "127.0.0.0/8 ::1/128 172.17.0.0/16"},
    ),
    Case("signature missing", FORGED, drop=(SIGNATURE_HEADER,)),
    Case("signature empty", FORGED, signature=lambda m: ""),
    Case("signature wrong", FORGED, signature=lambda m: _last_digit_changed(m.signature)),
    Case("signature truncated to 63", FORGED, signature=lambda m: m.signature[:63]),
    # The client signs with lowercase hex and the daemon passes attributes verbatim,
    # so any other spelling is not ours: compared byte for byte, refused.
    Case("signature in uppercase hex", FORGED, signature=lambda m: m.signature.upper()),
    Case("signature of another message", FORGED, signature=lambda m: m.other_signature),
    Case(
        "old secret while rotating",
        PROCESSED,
        sender=SIGNED_WITH_OLD_SECRET,
        worker=ROTATED_SECRETS,
    ),
    Case("old secret after rotation", FORGED, sender=SIGNED_WITH_OLD_SECRET, worker={}),
    Case("body with a changed argument", FORGED, body=_other_argument),
    Case("body with an appended space", FORGED, body=lambda body: body + b" "),
    Case("body re-encoded in another key order", FORGED, body=_keys_reversed),
    Case(
        "header names in odd case",
        PROCESSED,
        rename={
            SIGNATURE_HEADER: SIGNATURE_HEADER.lower(),
            ORIGIN_HEADER: ORIGIN_HEADER.upper(),
        },
    ),
    Case("origin attribute missing", PASSED_ON, drop=(ORIGIN_HEADER,)),
    Case("origin attribute not ours", PASSED_ON, headers={ORIGIN_HEADER: "rails"}),
    Case("job processing off", PASSED_ON, worker={"elasticjobs.process_jobs": "false"}),
    Case("GET", NOT_POST, method="GET"),
]


def enqueued_message(app: Any, sqs: Any) -> Message:
    """Enqueue a resize_image job (and a noop) through the client; receive the first from SQS."""
    client = get_client(app.registry)
    job = client.enqueue("resize_image", image_id=IMAGE_ID)
    client.enqueue("noop")
    transport = get_runtime(app.registry).transport
    images_url = transport.queue_url("images")
    message = receive(sqs, images_url)
    other = receive(sqs, transport.queue_url("default"))
    body = message["Body"].encode()
    # The tampering cases rely on re-encoding reproducing the signed bytes exactly.
    assert _envelope_bytes(json.loads(body)) == body
    return Message(
        body=body,
        headers=daemon_headers(message, images_url.rsplit("/", 1)[-1]),
        job_id=job.job_id,
        other_signature=other["MessageAttributes"][SIGNATURE_ATTRIBUTE]["StringValue"],
    )


def post_as_daemon(app: Any, case: Case, message: Message) -> Any:
    """Send ``message`` to the app the way ``case`` says, as the daemon (or an impostor) would."""
    headers = dict(message.headers)
    for name in case.drop:
        del headers[name]
    for old, new in case.rename.items():
        headers[new] = headers.pop(old)
    headers.update(case.headers)
    if case.signature is not None:
        headers[SIGNATURE_HEADER] = case.signature(message)
    return TestApp(app).request(
        "/",
        method=case.method,
        body=case.body(message.body) if case.body else message.body,
        headers=headers,
        content_type="application/json",
        environ={"REMOTE_ADDR": "127.0.0.1", **case.environ},
        expect_errors=True,
    )


def assert_answered(
    response: Any, expected: Answer, runs: Runs, job_run: tuple[str | None, dict[str, Any]]
) -> None:
    """The exact status code and outcome, and a run of the job if and only if it succeeded."""
    assert response.status_code == expected.code, response.text
    if expected.outcome is None:
        assert response.json == HOME, "the worker answered a request it must pass on"
    else:
        assert response.json["status"] == expected.outcome, response.text
    ran = [(name, arguments) for name, _, arguments in runs]
    assert ran == ([job_run] if expected is PROCESSED else [])


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_worker_runs_only_signed_messages_the_daemon_delivers_from_trusted_hosts(
    case: Case, app: Any, make_app: Callable[..., Any], sqs: Any, ran: Runs
) -> None:
    """Each spoofed, tampered or foreign request gets its exact answer; only genuine ones run."""
    sender = make_app(**case.sender) if case.sender else app
    worker = sender if case.worker is None else make_app(**case.worker)
    message = enqueued_message(sender, sqs)

    response = post_as_daemon(worker, case, message)

    assert_answered(response, case.expected, ran, JOB_RUN)
    if case.expected is PROCESSED:
        assert response.json["job_id"] == message.job_id


@dataclass(frozen=True)
class PeriodicCase:
    """A periodic-task request (unsigned by design) and the answer that must come back."""

    expected: Answer
    task: str | None = "nightly_report"
    environ: Mapping[str, str] = field(default_factory=dict)  # over REMOTE_ADDR=127.0.0.1
    headers: Mapping[str, str] = field(default_factory=dict)


PERIODIC_CASES = [
    pytest.param(PeriodicCase(PROCESSED), id="trusted daemon"),
    pytest.param(
        PeriodicCase(UNTRUSTED, headers={"X-Forwarded-For": "203.0.113.9"}),
        id="X-Forwarded-For of an internet client",
    ),
    pytest.param(
        PeriodicCase(UNTRUSTED, environ={"REMOTE_ADDR": "10.0.0.5"}),
        id="untrusted REMOTE_ADDR",
    ),
    pytest.param(
        PeriodicCase(UNTRUSTED, headers={"Forwarded": "for = 203.0.113.9"}),
        id="Forwarded with spaces of an internet client",
    ),
    pytest.param(
        PeriodicCase(SOURCE_UNKNOWN, environ=WAITRESS),
        id="under waitress without forwarding headers",
    ),
    pytest.param(PeriodicCase(Answer(400, "missing_task_name"), task=None), id="no name"),
    pytest.param(PeriodicCase(Answer(422, "unknown_job"), task="no_such_job"), id="unknown name"),
    pytest.param(
        PeriodicCase(Answer(422, "not_periodic"), task="noop"),
        id="job not declared periodic",
    ),
]


@pytest.mark.parametrize("case", PERIODIC_CASES)
def test_periodic_route_runs_only_periodic_jobs_for_trusted_hosts(
    case: PeriodicCase, app: Any, ran: Runs
) -> None:
    """Unsigned periodic requests start a periodic job from a trusted host, and nothing else."""
    headers = {"User-Agent": "aws-sqsd/3.0.4", **case.headers}
    if case.task is not None:
        headers[TASK_NAME_HEADER] = case.task
    response = TestApp(app).post(
        PERIODIC_ROUTE,
        b"",
        headers=headers,
        extra_environ={"REMOTE_ADDR": "127.0.0.1", **case.environ},
        expect_errors=True,
    )

    assert_answered(response, case.expected, ran, (case.task, {"day": None, "title": "nightly"}))


def test_unknown_source_is_explained_once_per_process(
    app: Any, sqs: Any, ran: Runs, caplog: pytest.LogCaptureFixture
) -> None:
    """Under waitress, the refusal of a request whose source is unknown logs the fix once."""
    caplog.set_level(logging.WARNING, logger="pyramid_elasticjobs.worker")
    case = Case("waitress", SOURCE_UNKNOWN, environ=WAITRESS)
    for _ in range(3):
        assert_answered(
            post_as_daemon(app, case, enqueued_message(app, sqs)), SOURCE_UNKNOWN, ran, JOB_RUN
        )
    [warning] = [r.getMessage() for r in caplog.records if r.name == "pyramid_elasticjobs.worker"]
    assert "waitress deletes X-Forwarded-For" in warning
    assert "elasticjobs.remote_addr_is_client = true" in warning


@pytest.mark.parametrize(
    ("environ", "headers", "logged"),
    [
        ({"REMOTE_ADDR": "10.0.0.5"}, {}, "REMOTE_ADDR=10.0.0.5"),
        ({}, {"X-Forwarded-For": "203.0.113.9"}, "X-Forwarded-For=203.0.113.9"),
    ],
    ids=["peer", "forwarded client"],
)
def test_refusing_an_untrusted_source_logs_its_address(
    environ: dict[str, str],
    headers: dict[str, str],
    logged: str,
    app: Any,
    sqs: Any,
    ran: Runs,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The warning about a refused daemon request names the address it came from."""
    caplog.set_level(logging.WARNING, logger="pyramid_elasticjobs.worker")
    case = Case("untrusted", UNTRUSTED, headers=headers, environ=environ)

    response = post_as_daemon(app, case, enqueued_message(app, sqs))

    assert_answered(response, UNTRUSTED, ran, JOB_RUN)
    warnings = [
        record.getMessage()
        for record in caplog.records
        if record.name == "pyramid_elasticjobs.worker" and record.levelno == logging.WARNING
    ]
    assert len(warnings) == 1, warnings
    assert logged in warnings[0]
    assert "untrusted source" in warnings[0]


# -- fuzz ---------------------------------------------------------------------------

#: What a WSGI server can put in a header value: latin-1 without control characters.
_HEADER_TEXT = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=60
)
_REGISTERED_JOBS = frozenset({"resize_image", "nightly_report", "explode", "vanish", "noop"})
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
_TIMESTAMPS = st.datetimes(timezones=st.just(UTC)).map(lambda moment: moment.isoformat())
_ENVELOPE_LIKE = st.fixed_dictionaries(
    {
        "v": st.sampled_from([1, 2, None, "1"]),
        "job": st.sampled_from(sorted(_REGISTERED_JOBS)) | st.text(max_size=20),
        "id": st.text(max_size=32),
        "queue": st.sampled_from(["default", "images"]) | st.text(max_size=12),
        "args": st.dictionaries(st.text(max_size=8), _JSON_VALUES, max_size=4),
        "enqueued_at": _TIMESTAMPS | st.text(max_size=20),
        "run_at": st.none() | _TIMESTAMPS,
    }
).map(lambda document: json.dumps(document).encode())
#: (job, arguments) that would run if a worker accepted them.
_RUNNABLE_CALLS: st.SearchStrategy[tuple[str, dict[str, Any]]] = st.one_of(
    st.sampled_from(["noop", "vanish", "explode", "nightly_report"]).map(lambda name: (name, {})),
    st.integers().map(lambda image_id: ("resize_image", {"image_id": image_id})),
)


def _envelope(call: tuple[str, dict[str, Any]], job_id: str, enqueued_at: datetime) -> bytes:
    name, arguments = call
    # Never expired, never early: a worker that skipped the signature check would run it.
    never = datetime(9999, 1, 1, tzinfo=UTC)
    return Envelope(name, job_id, "images", arguments, enqueued_at, None, never).to_json()


#: Envelopes a worker would run if it skipped the signature check.
_WELL_FORMED = st.builds(
    _envelope, _RUNNABLE_CALLS, st.text(max_size=32), st.datetimes(timezones=st.just(UTC))
)
_BODIES = (
    st.binary(max_size=300) | st.text(max_size=200).map(str.encode) | _ENVELOPE_LIKE | _WELL_FORMED
)
_ADDRESSES = st.ip_addresses().map(str)
_LOOPBACK = st.sampled_from(["127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"])
_DAEMON_HEADERS = st.fixed_dictionaries(
    {},
    optional={
        SIGNATURE_HEADER: st.from_regex(r"\A[0-9a-f]{64}\Z") | _HEADER_TEXT,
        ORIGIN_HEADER: st.just(ORIGIN) | _HEADER_TEXT,
        TASK_NAME_HEADER: _HEADER_TEXT.filter(lambda name: name not in _REGISTERED_JOBS),
        "X-Aws-Sqsd-Msgid": _HEADER_TEXT,
        "X-Aws-Sqsd-Queue": _HEADER_TEXT,
        "X-Aws-Sqsd-Receive-Count": st.integers().map(str) | _HEADER_TEXT,
        "X-Aws-Sqsd-First-Received-At": _TIMESTAMPS | _HEADER_TEXT,
        "X-Aws-Sqsd-Sent-At": _TIMESTAMPS | _HEADER_TEXT,
        "X-Aws-Sqsd-Scheduled-At": _TIMESTAMPS | _HEADER_TEXT,
    },
)
_FORWARDED_HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "X-Forwarded-For": st.lists(_ADDRESSES | _LOOPBACK, min_size=1, max_size=4).map(", ".join)
        | _HEADER_TEXT,
        "X-Real-IP": _ADDRESSES | _HEADER_TEXT,
    },
)


@dataclass(frozen=True)
class HostileRequest:
    """A request that is not a genuine delivery, however much it looks like one."""

    url: str
    method: str
    body: bytes
    headers: Mapping[str, str]
    remote_addr: str


@st.composite
def _hostile_requests(draw: st.DrawFn) -> HostileRequest:
    """Half come from a trusted daemon (loopback, a daemon User-Agent, POST, mostly our
    origin marker), so the signature check and the periodic handler get fuzzed too."""
    headers = draw(_DAEMON_HEADERS)
    if draw(st.booleans()):
        headers["User-Agent"] = draw(st.sampled_from(["aws-sqsd/3.0.4", "aws-sqsd", "sqsd/0.1"]))
        headers[ORIGIN_HEADER] = draw(st.just(ORIGIN) | _HEADER_TEXT)
        remote_addr = draw(_LOOPBACK)
        method = "POST"
    else:
        headers["User-Agent"] = "aws-sqsd" + draw(_HEADER_TEXT)
        headers.update(draw(_FORWARDED_HEADERS))
        remote_addr = draw(_LOOPBACK | _ADDRESSES | _HEADER_TEXT)
        method = draw(st.sampled_from(["POST", "GET", "PUT"]))
    url = draw(st.sampled_from(["/", PERIODIC_ROUTE]))
    body = draw(_BODIES) if method != "GET" else b""
    return HostileRequest(url, method, body, headers, remote_addr)


def test_fuzz_avoids_exactly_the_registered_jobs(app: Any) -> None:
    """The fuzz's list of task names to avoid is the app's real list of jobs."""
    assert set(get_runtime(app.registry).jobs.names()) == _REGISTERED_JOBS


@hypothesis_settings(
    max_examples=300,
    deadline=None,  # a loaded CI machine must not turn slowness into a failure
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(request=_hostile_requests())
def test_hostile_requests_never_run_a_job_nor_break_the_worker(
    app: Any, ran: Runs, request: HostileRequest
) -> None:
    """Unsigned bodies with random daemon-like headers run nothing and never get a 5xx."""
    ran.clear()  # one app and one list of runs serve every example

    response = TestApp(app).request(
        request.url,
        method=request.method,
        body=request.body,
        headers=dict(request.headers),
        content_type="application/json",
        environ={"REMOTE_ADDR": request.remote_addr},
        expect_errors=True,
    )

    assert response.status_code < 500, response.text
    assert ran == []
