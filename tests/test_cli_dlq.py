"""``elasticjobs dlq``: dead letters listed, shown, redriven, deleted and purged in moto's SQS."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from marshmallow import Schema, fields
from pyramid.config import Configurator
from pyramid.paster import get_app
from pyramid.router import Router
from rich.console import Console
from sqlalchemy import create_engine

from pyramid_elasticjobs import JobContext, get_client
from pyramid_elasticjobs.audit.queries import AuditQueries
from pyramid_elasticjobs.cli import main
from pyramid_elasticjobs.cli.dlq import actor
from pyramid_elasticjobs.cli.progress import progress_bar
from pyramid_elasticjobs.envelope import Envelope

from . import sample_jobs
from .cli_support import base_settings, run_cli
from .deadletters_support import counts, drain, forged_attributes, redrive_policy
from .support import make_envelope

MAX_RECEIVES = 2

SendEnvelope = Callable[[Any, str, Envelope], str]


class Login(Schema):
    user = fields.Str(required=True)
    token = fields.Str(required=True)


def log_in(ctx: JobContext, user: str, token: str) -> None:
    """A job with a sensitive argument."""


def app_main(global_config: Mapping[str, Any], **settings: Any) -> Router:
    """The application of the test ini files: the sample jobs and one with a redacted field."""
    with Configurator(settings=settings) as config:
        config.include("pyramid_elasticjobs")
        config.scan(sample_jobs)
        config.add_job(log_in, schema=Login, redact=("token",))
    router: Router = config.make_wsgi_app()
    return router


@pytest.fixture(autouse=True)
def no_audit_url_from_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ELASTICJOBS_AUDIT_URL", raising=False)


@pytest.fixture
def dlq_names(queue_prefix: str) -> dict[str, str]:
    """SQS names of the dead-letter queues."""
    return {
        "default": f"{queue_prefix}default-dead-letters",
        "images": f"{queue_prefix}images-dead-letters",
    }


@pytest.fixture
def urls(sqs: Any, make_queue: Callable[..., str]) -> dict[str, str]:
    """Two job queues, each with a RedrivePolicy to its own dead-letter queue."""
    default_dead = make_queue("default-dead-letters")
    images_dead = make_queue("images-dead-letters", MessageRetentionPeriod="1209600")
    # VisibilityTimeout 0: a failed delivery is visible again at once, for the next one.
    default = make_queue(
        "default",
        VisibilityTimeout="0",
        RedrivePolicy=redrive_policy(sqs, default_dead, MAX_RECEIVES),
    )
    images = make_queue("images", RedrivePolicy=redrive_policy(sqs, images_dead, 5))
    return {
        "default": default,
        "default_dead": default_dead,
        "images": images,
        "images_dead": images_dead,
    }


def write_ini(folder: Path, settings: Mapping[str, str], name: str = "app.ini") -> Path:
    lines = ["[app:main]", "use = call:tests.test_cli_dlq:app_main"]
    lines += [f"{key} = {value}" for key, value in settings.items()]
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def ini_settings(sqs_endpoint: str, queue_prefix: str) -> dict[str, str]:
    return {**base_settings(sqs_endpoint, queue_prefix), "elasticjobs.process_jobs": "true"}


@pytest.fixture
def ini(tmp_path: Path, ini_settings: dict[str, str], urls: dict[str, str]) -> str:
    return str(write_ini(tmp_path, ini_settings))


@pytest.fixture
def audit_file(tmp_path: Path) -> Path:
    return tmp_path / "audit.sqlite"


@pytest.fixture
def audited_ini(
    tmp_path: Path, ini_settings: dict[str, str], urls: dict[str, str], audit_file: Path
) -> str:
    settings = {
        **ini_settings,
        "elasticjobs.audit.url": f"sqlite:///{audit_file}",
        "elasticjobs.audit.auto_upgrade": "true",
    }
    return str(write_ini(tmp_path, settings, "audited.ini"))


@pytest.fixture
def app(ini: str) -> Any:
    return get_app(ini)


@pytest.fixture
def dead(app: Any, urls: dict[str, str], send_envelope: SendEnvelope) -> Callable[..., str]:
    """Put a signed envelope straight into the default queue's dead-letter queue."""

    def dead(name: str = "noop", arguments: dict[str, Any] | None = None) -> str:
        return send_envelope(app, urls["default_dead"], make_envelope(name, arguments))

    return dead


@pytest.fixture
def actions(audit_file: Path) -> Iterator[Callable[[str], list[Any]]]:
    """The operators' actions the audit log holds for a queue, oldest first."""
    engine = create_engine(f"sqlite:///{audit_file}")

    def actions(queue: str) -> list[Any]:
        return list(reversed(AuditQueries(engine).actions(queue=queue, limit=100)))

    yield actions
    engine.dispose()


def dlq(*arguments: str) -> int:
    """``elasticjobs dlq ARGUMENTS --wait 0`` in this process (no long polls against moto)."""
    return main(["dlq", *arguments, "--wait", "0"])


def job_names(messages: list[dict[str, Any]]) -> list[str]:
    return sorted(Envelope.from_json(message["Body"].encode()).name for message in messages)


def column(lines: list[str], header: str) -> int:
    """Where a column starts, from the header line."""
    return lines[0].index(header)


# -- help and usage ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("list", ("INI", "--queue", "--messages", "--json", "--wait")),
        ("show", ("INI", "MESSAGE_ID", "--queue", "--json")),
        ("redrive", ("MESSAGE_ID", "--all-matching", "--job", "--all", "--rate", "--json")),
        ("delete", ("MESSAGE_ID", "--queue", "--json")),
        ("purge", ("--queue", "--confirm", "--json")),
    ],
)
def test_every_subcommand_has_help_with_its_options_and_exit_statuses(
    capsys: pytest.CaptureFixture[str], command: str, expected: tuple[str, ...]
) -> None:
    """--help of each subcommand names its options and the exit statuses."""
    with pytest.raises(SystemExit) as exited:
        main(["dlq", command, "--help"])

    text = capsys.readouterr().out
    assert exited.value.code == 0
    for option in (*expected, "Exit status"):
        assert option in text


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["--queue", "default"], "give the MESSAGE_IDs to redrive"),
        (["--queue", "default", "m1", "--all"], "(one of them)"),
        (["--queue", "default", "m1", "--job", "noop"], "--all-matching --job NAME"),
    ],
    ids=["nothing-selected", "ids-and-all", "job-without-all-matching"],
)
def test_redrive_selections_that_do_not_go_together_exit_2(
    ini: str, capsys: pytest.CaptureFixture[str], arguments: list[str], expected: str
) -> None:
    """One selection at a time; the error line says which to give."""
    assert dlq("redrive", ini, *arguments) == 2

    error = capsys.readouterr().err
    assert error.startswith("elasticjobs dlq redrive: error: ")
    assert expected in error


@pytest.mark.parametrize("rate", ["0", "501", "fast"])
def test_a_rate_outside_what_sqs_takes_is_a_usage_error(
    ini: str, capsys: pytest.CaptureFixture[str], rate: str
) -> None:
    """--rate is 1-500 (SQS's ceiling for move tasks)."""
    with pytest.raises(SystemExit) as exited:
        dlq("redrive", ini, "--queue", "default", "--all", "--rate", rate)

    assert exited.value.code == 2
    assert "--rate takes a whole number from 1 to 500" in capsys.readouterr().err


def test_a_missing_ini_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No such file: exit 2, saying to give the application's ini file."""
    assert dlq("list", str(tmp_path / "nope.ini")) == 2

    assert "not found; give the path of the application's ini file" in capsys.readouterr().err


def test_a_live_queue_is_refused_with_exit_2(
    ini: str, queue_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A job queue's own SQS name is not a dead-letter queue: nothing is received from it."""
    assert dlq("show", ini, "--queue", f"{queue_prefix}default", "m1") == 2

    assert "is not a dead-letter queue" in capsys.readouterr().err


# -- list -------------------------------------------------------------------------------


def test_list_aligns_queues_policies_counts_and_the_sampled_oldest(
    ini: str,
    dead: Callable[..., str],
    queue_prefix: str,
    dlq_names: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Job queues with maxReceiveCount and DLQ; DLQs with counts, retention, oldest of a sample."""
    dead()
    dead()

    assert dlq("list", ini) == 0

    text = capsys.readouterr().out
    queues, dead_letter_queues = (block.splitlines() for block in text.strip().split("\n\n"))
    assert queues[0].split() == [
        "QUEUE", "SQS", "QUEUE", "VISIBLE", "IN", "FLIGHT", "DELAYED", "MAX", "RECEIVES",
        "DEAD-LETTER", "QUEUE",
    ]  # fmt: skip
    default = next(line for line in queues if line.startswith("default "))
    assert default.split() == [
        "default",
        f"{queue_prefix}default",
        "0",
        "0",
        "0",
        "2",
        dlq_names["default"],
    ]
    assert default.index(dlq_names["default"]) == column(queues, "DEAD-LETTER QUEUE")
    images = next(line for line in queues if line.startswith("images "))
    assert images.split()[5:] == ["5", dlq_names["images"]]
    rows = {line.split()[0]: line for line in dead_letter_queues[1:]}
    default_dead = rows[dlq_names["default"]]
    assert default_dead.split()[1:5] == ["2", "0", "0", "4d"]
    assert default_dead.index("4d") == column(dead_letter_queues, "RETENTION")
    assert "(oldest of 2 sampled); SQS deletes it" in default_dead
    assert rows[dlq_names["images"]].split()[1:] == ["0", "0", "0", "14d", "-"]


def test_list_messages_shows_a_sample_table_and_releases_every_message(
    ini: str,
    dead: Callable[..., str],
    urls: dict[str, str],
    sqs: Any,
    dlq_names: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--messages N: message id, job, verdict, sent time, receive count; all visible again."""
    valid = dead("resize_image", {"image_id": 1})
    invalid = dead("resize_image", {"image_id": "one"})

    assert dlq("list", ini, "--queue", "default", "--messages", "5") == 0

    text = capsys.readouterr().out
    sample = text.split(f"{dlq_names['default']}: 2 of about 2 messages, sampled")[1].splitlines()
    table = sample[1:]
    assert table[0].split() == ["MESSAGE", "ID", "JOB", "VERDICT", "SENT", "RECEIVES"]
    rows = {line.split()[0]: line.split() for line in table[1:]}
    assert rows[valid][1:3] == ["resize_image", "valid"]
    assert rows[invalid][1:3] == ["resize_image", "invalid_arguments"]
    assert rows[valid][-1] == "1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", rows[valid][3])
    assert "images" not in text  # --queue default: only that queue and its DLQ
    assert counts(sqs, urls["default_dead"]) == (2, 0)


def test_list_json_has_every_count_and_the_sampled_messages(
    ini: str,
    dead: Callable[..., str],
    dlq_names: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--json: queues and dead-letter queues as a script reads them, with the sample."""
    message_id = dead("noop")

    assert dlq("list", ini, "--messages", "3", "--json") == 0

    document = json.loads(capsys.readouterr().out)
    queues = {queue["queue"]: queue for queue in document["queues"]}
    assert queues["default"]["max_receive_count"] == MAX_RECEIVES
    assert queues["default"]["dead_letter_queue"] == dlq_names["default"]
    assert queues["default"]["error"] is None
    dead_letter_queues = {queue["name"]: queue for queue in document["dead_letter_queues"]}
    default_dead = dead_letter_queues[dlq_names["default"]]
    assert (default_dead["visible"], default_dead["retention_seconds"]) == (1, 345_600)
    assert default_dead["oldest_sampled"]["sample_size"] == 1
    assert default_dead["move_tasks"] is None  # moto has no move tasks
    [letter] = default_dead["messages"]
    assert (letter["message_id"], letter["job"], letter["verdict"]) == (message_id, "noop", "valid")
    assert letter["receive_count"] == 1
    assert dead_letter_queues[dlq_names["images"]]["messages"] == []


def test_list_exits_1_naming_a_queue_it_cannot_read(
    tmp_path: Path,
    ini_settings: dict[str, str],
    urls: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A queue of elasticjobs.dashboard.queues that does not exist: listed, and exit 1."""
    settings = {**ini_settings, "elasticjobs.dashboard.queues": "reports"}
    ini = str(write_ini(tmp_path, settings))

    assert dlq("list", ini) == 1

    captured = capsys.readouterr()
    reports = next(line for line in captured.out.splitlines() if line.startswith("reports "))
    assert reports.split()[2:] == ["-", "-", "-", "-", "unreadable", "(see", "below)"]
    assert "elasticjobs dlq list: error: queue" in captured.err
    assert "reports" in captured.err


# -- show -------------------------------------------------------------------------------


def test_show_decodes_a_message_hiding_redacted_fields_with_its_argument_errors(
    ini: str,
    dead: Callable[..., str],
    dlq_names: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Job, verdict, valid signature, arguments with the token hidden, the schema's complaints."""
    message_id = dead("log_in", {"user": "ann", "token": "s3cret", "remember": True})

    assert dlq("show", ini, "--queue", "default", message_id) == 0

    text = capsys.readouterr().out
    fields = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in text.splitlines())
    assert fields["message id"] == message_id
    assert fields["job"] == "log_in"
    assert fields["queue"].startswith(dlq_names["default"])
    assert fields["verdict"].startswith("invalid_arguments: ")
    assert fields["signature"] == "valid"
    assert json.loads(fields["arguments"]) == {
        "user": "ann",
        "token": "[redacted]",
        "remember": True,
    }
    assert fields["argument errors"] == "remember: Unknown field."
    assert fields["last error"] == "- (no audit log: set elasticjobs.audit.url)"
    assert "s3cret" not in text


def test_show_json_of_a_forged_message_still_hides_redacted_fields(
    ini: str, urls: dict[str, str], send_raw: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad signature is reported, and the job's redacted fields stay hidden all the same."""
    envelope = make_envelope("log_in", {"user": "ann", "token": "s3cret"})
    message_id = send_raw(urls["default_dead"], envelope.to_json(), forged_attributes("log_in"))

    assert dlq("show", ini, "--queue", "default", message_id, "--json") == 0

    text = capsys.readouterr().out
    document = json.loads(text)
    assert document["verdict"] == "bad_signature"
    assert document["signature_valid"] is False
    assert document["job_id"] == envelope.job_id
    assert document["arguments"] == {"user": "ann", "token": "[redacted]"}
    assert document["argument_errors"] == {}
    assert "s3cret" not in text


def test_show_gives_the_audit_logs_last_error_of_a_job_that_died(
    audited_ini: str,
    urls: dict[str, str],
    sqs: Any,
    deliver: Callable[..., Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A job failed at every delivery until SQS dead-lettered it: its last error is shown."""
    app = get_app(audited_ini)
    job = get_client(app.registry).enqueue("explode")
    for _ in range(MAX_RECEIVES):
        deliver(app, urls["default"], status=500)
    # The receive after the last allowed one moves the message into the dead-letter queue.
    assert sqs.receive_message(QueueUrl=urls["default"]).get("Messages", []) == []
    [died] = drain(sqs, urls["default_dead"])
    sqs.change_message_visibility(
        QueueUrl=urls["default_dead"], ReceiptHandle=died["ReceiptHandle"], VisibilityTimeout=0
    )

    assert dlq("show", audited_ini, "--queue", "default", died["MessageId"], "--json") == 0

    document = json.loads(capsys.readouterr().out)
    assert document["job_id"] == job.job_id
    assert document["verdict"] == "valid"
    assert document["last_error"]["error_class"] == "RuntimeError"
    assert "boom" in document["last_error"]["error"]
    assert document["last_error"]["attempts"] == MAX_RECEIVES


def test_show_of_a_message_not_there_exits_1_saying_what_to_do(
    ini: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not found: exit 1, one line suggesting to sample again."""
    assert dlq("show", ini, "--queue", "default", "no-such-id") == 1

    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "was not found in dead-letter queue" in error
    assert "sample the queue again" in error


# -- redrive ----------------------------------------------------------------------------


def test_redrive_moves_exactly_the_given_messages_and_skips_invalid_ones_with_exit_1(
    ini: str,
    dead: Callable[..., str],
    urls: dict[str, str],
    sqs: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Two valid ids go back to their source queue; the invalid one is listed and stays."""
    first = dead("resize_image", {"image_id": 1})
    second = dead("noop")
    untouched = dead("noop")
    invalid = dead("resize_image", {"image_id": "one"})

    assert dlq("redrive", ini, "--queue", "default", first, second, invalid) == 1

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["MESSAGE", "ID", "JOB", "OUTCOME", "DETAIL"]
    rows = {line.split()[0]: line for line in lines[1:4]}
    assert rows[first].split()[1:4] == ["resize_image", "redriven", "to"]
    assert rows[invalid].split()[1:3] == ["resize_image", "skipped"]
    assert rows[invalid].index("skipped") == column(lines, "OUTCOME")
    assert "2 redriven, 1 skipped, 0 failed, 0 not found" in lines[4]
    assert "skipped messages would fail again" in lines[5]
    redriven = drain(sqs, urls["default"])
    remaining = drain(sqs, urls["default_dead"])
    assert {message["MessageId"] for message in remaining} == {untouched, invalid}
    assert job_names(redriven) == ["noop", "resize_image"]


def test_redrive_all_matching_one_job_leaves_the_others(
    ini: str,
    dead: Callable[..., str],
    urls: dict[str, str],
    sqs: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--all-matching --job: every valid message of that job, none of another job."""
    images = [dead("resize_image", {"image_id": number}) for number in range(3)]
    other = dead("noop")

    assert dlq("redrive", ini, "--queue", "default", "--all-matching", "--job", "resize_image") == 0

    assert "3 redriven, 0 skipped, 0 failed, 0 not found" in capsys.readouterr().out
    assert [message["MessageId"] for message in drain(sqs, urls["default_dead"])] == [other]
    assert len(drain(sqs, urls["default"])) == len(images)


def test_redrive_all_on_an_sqs_without_move_tasks_checks_every_message(
    ini: str,
    dead: Callable[..., str],
    urls: dict[str, str],
    sqs: Any,
    send_raw: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--all on moto: no move task, so each message is checked; JSON lists what was skipped."""
    valid = [dead("noop") for _ in range(3)]
    forged = send_raw(
        urls["default_dead"], make_envelope("noop").to_json(), forged_attributes("noop")
    )

    assert dlq("redrive", ini, "--queue", "default", "--all", "--rate", "50", "--json") == 1

    document = json.loads(capsys.readouterr().out)
    assert document["move_task"] is None
    assert {item["message_id"] for item in document["redriven"]} == set(valid)
    assert all(item["original_deleted"] for item in document["redriven"])
    [skipped] = document["skipped"]
    assert (skipped["message_id"], skipped["verdict"]) == (forged, "bad_signature")
    assert document["failed"] == document["not_found"] == []
    assert len(drain(sqs, urls["default"])) == 3
    assert [message["MessageId"] for message in drain(sqs, urls["default_dead"])] == [forged]


def test_redrive_of_an_id_not_there_exits_1_and_lists_it(
    ini: str, dead: Callable[..., str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A message id that is not in the queue is reported as not found."""
    dead("noop")

    assert dlq("redrive", ini, "--queue", "default", "gone-id", "--json") == 1

    document = json.loads(capsys.readouterr().out)
    assert document["not_found"] == ["gone-id"]
    assert document["redriven"] == []


# -- delete and purge -------------------------------------------------------------------


def test_delete_removes_one_message_for_good(
    ini: str,
    dead: Callable[..., str],
    urls: dict[str, str],
    sqs: Any,
    dlq_names: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Only the given message is deleted; the other is released again."""
    doomed = dead("noop")
    kept = dead("noop")

    assert dlq("delete", ini, "--queue", "default", doomed) == 0

    assert capsys.readouterr().out == (
        f"deleted message {doomed} (noop, valid) from {dlq_names['default']} for good\n"
    )
    assert [message["MessageId"] for message in drain(sqs, urls["default_dead"])] == [kept]


def test_delete_json_says_what_was_deleted(
    ini: str,
    dead: Callable[..., str],
    dlq_names: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--json: the queue and the deleted message's job and verdict."""
    doomed = dead("resize_image", {"image_id": "x"})

    assert dlq("delete", ini, "--queue", dlq_names["default"], doomed, "--json") == 0

    document = json.loads(capsys.readouterr().out)
    assert document["queue"] == dlq_names["default"]
    assert document["deleted"]["message_id"] == doomed
    assert document["deleted"]["verdict"] == "invalid_arguments"


def test_purge_refuses_without_the_queues_name_and_says_which_to_give(
    ini: str,
    dead: Callable[..., str],
    urls: dict[str, str],
    sqs: Any,
    dlq_names: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--confirm with the job queue's name is not enough: exit 2, nothing deleted."""
    dead()

    assert dlq("purge", ini, "--queue", "default", "--confirm", "default") == 2

    error = capsys.readouterr().err
    assert error.startswith("elasticjobs dlq purge: error: refused: ")
    assert f"give --confirm {dlq_names['default']} " in error
    assert counts(sqs, urls["default_dead"]) == (1, 0)


def test_purge_without_confirm_is_a_usage_error(
    ini: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """--confirm is required."""
    with pytest.raises(SystemExit) as exited:
        dlq("purge", ini, "--queue", "default")

    assert exited.value.code == 2
    assert "--confirm" in capsys.readouterr().err


def test_purge_with_the_name_empties_the_dead_letter_queue_only(
    ini: str,
    dead: Callable[..., str],
    urls: dict[str, str],
    sqs: Any,
    dlq_names: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The dead-letter queue is emptied; its source queue keeps its messages."""
    dead()
    dead()
    sqs.send_message(QueueUrl=urls["default"], MessageBody="live")

    assert dlq("purge", ini, "--queue", "default", "--confirm", dlq_names["default"]) == 0

    assert capsys.readouterr().out == (
        f"purged {dlq_names['default']}: about 2 message(s) deleted for good\n"
    )
    assert counts(sqs, urls["default_dead"]) == (0, 0)
    assert counts(sqs, urls["default"]) == (1, 0)


# -- the audit log ----------------------------------------------------------------------


def test_actions_are_recorded_in_the_audit_log_with_the_cli_operator(
    audited_ini: str,
    app: Any,
    urls: dict[str, str],
    send_envelope: SendEnvelope,
    dlq_names: dict[str, str],
    actions: Callable[[str], list[Any]],
) -> None:
    """Redrive, delete and purge each leave an action by cli:<user>@<host>."""
    redriven, deleted, _purged = (
        send_envelope(app, urls["default_dead"], make_envelope("noop")) for _ in range(3)
    )

    assert dlq("redrive", audited_ini, "--queue", "default", redriven) == 0
    assert dlq("delete", audited_ini, "--queue", "default", deleted) == 0
    assert dlq("purge", audited_ini, "--queue", "default", "--confirm", dlq_names["default"]) == 0

    recorded = actions(dlq_names["default"])
    assert [(action.action, action.message_id) for action in recorded] == [
        ("redriven", redriven),
        ("deleted", deleted),
        ("purged", None),
    ]
    assert {action.actor for action in recorded} == {actor()}
    assert actor().startswith("cli:")
    assert recorded[2].detail == {"approximate_messages": 1}


def test_the_command_redrives_in_its_own_process_and_records_its_operator(
    audited_ini: str,
    dead: Callable[..., str],
    urls: dict[str, str],
    sqs: Any,
    dlq_names: dict[str, str],
    actions: Callable[[str], list[Any]],
) -> None:
    """The installed entry point: a real process redrives, prints, and records cli:<user>@<host>."""
    message_id = dead("noop")

    result = run_cli("dlq", "redrive", audited_ini, "--queue", "default", message_id, "--wait", "0")

    assert result.returncode == 0, result.stderr
    assert "1 redriven, 0 skipped, 0 failed, 0 not found" in result.stdout
    assert result.stderr == ""  # no progress bar without a terminal
    assert job_names(drain(sqs, urls["default"])) == ["noop"]
    [action] = actions(dlq_names["default"])
    assert (action.action, action.message_id, action.actor) == ("redriven", message_id, actor())


# -- the progress bar -------------------------------------------------------------------


def test_the_progress_bar_draws_on_a_terminal_only() -> None:
    """On a terminal it shows done/total (growing past an approximate total); else nothing."""
    terminal = io.StringIO()
    with progress_bar("redriving q", console=Console(file=terminal, force_terminal=True)) as update:
        update(3, 2)  # SQS's count was approximate: the total grows rather than overflow
    assert "3/3" in terminal.getvalue()
    assert "redriving q" in terminal.getvalue()

    pipe = io.StringIO()
    with progress_bar("redriving q", console=Console(file=pipe)) as update:
        update(1, 2)
    assert pipe.getvalue() == ""


def test_show_without_audit_tables_shows_the_message_and_warns(
    tmp_path: Path,
    ini_settings: dict[str, str],
    dead: Callable[..., str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An audit log whose tables were never created: the message is shown, with a warning."""
    settings = {**ini_settings, "elasticjobs.audit.url": f"sqlite:///{tmp_path}/empty.sqlite"}
    ini = str(write_ini(tmp_path, settings, "empty-audit.ini"))
    message_id = dead("noop")

    assert dlq("show", ini, "--queue", "default", message_id, "--json") == 0

    captured = capsys.readouterr()
    assert json.loads(captured.out)["last_error"] is None
    assert "warning: the audit log cannot be read" in captured.err
    assert "check elasticjobs.audit.url" in captured.err


def test_list_finds_a_dead_letter_queue_outside_the_apps_queues_through_sqs(
    ini: str,
    sqs: Any,
    make_queue: Callable[..., str],
    queue_prefix: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--queue names the DLQ of a queue no job uses: SQS's redrive sources vouch for it."""
    other_dead = make_queue("other-dead")
    make_queue("other", RedrivePolicy=redrive_policy(sqs, other_dead, 3))

    assert dlq("list", ini, "--queue", f"{queue_prefix}other-dead", "--json") == 0

    document = json.loads(capsys.readouterr().out)
    assert document["queues"] == []
    [listed] = document["dead_letter_queues"]
    assert (listed["name"], listed["sources"]) == (
        f"{queue_prefix}other-dead",
        [f"{queue_prefix}other"],
    )
