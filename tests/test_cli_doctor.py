"""``elasticjobs doctor``: each misconfiguration gives its line, a sane one exits 0."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pyramid_elasticjobs.cli import main

from .cli_support import BROKEN_PERIODIC, ROOT, base_settings, run_cli, write_ini
from .support import OLD_SECRET, SECRET

WAITRESS = {"use": "egg:waitress#main", "listen": "127.0.0.1:6543"}
GUNICORN = {"use": "egg:gunicorn#main", "bind": "127.0.0.1:8000"}
FOURTEEN_DAYS = "1209600"
FOUR_DAYS = "345600"


def doctor(
    capsys: pytest.CaptureFixture[str], ini: Path, *options: str
) -> tuple[int, list[dict[str, str]]]:
    """Run doctor in this process with --json; (exit status, findings)."""
    status = main(["doctor", str(ini), "--json", *options])
    document = json.loads(capsys.readouterr().out)
    return status, document["findings"]


def lines(findings: list[dict[str, str]], status: str) -> list[str]:
    return [
        f"{finding['check']}: {finding['message']}"
        for finding in findings
        if finding["status"] == status
    ]


def test_help_describes_the_checks_and_exit_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    """--help names INI, --aws, --json and the exit statuses."""
    with pytest.raises(SystemExit) as exited:
        main(["doctor", "--help"])

    text = capsys.readouterr().out
    assert exited.value.code == 0
    for expected in ("INI", "--aws", "--json", "Exit status", "remote_addr_is_client"):
        assert expected in text


def test_the_repositorys_development_ini_passes() -> None:
    """The demo's development.ini exits 0 with an aligned table and no FAIL line."""
    result = run_cli("doctor", str(ROOT / "development.ini"))

    assert result.returncode == 0, result.stdout + result.stderr
    rows = result.stdout.splitlines()
    assert not [row for row in rows if row.startswith("FAIL")]
    assert rows[-1].endswith("0 failure(s)")
    # Checks hold single spaces only: the message starts after the padding of the widest.
    starts = {len(row) - len(row[6:].split("  ", 1)[1].lstrip(" ")) for row in rows[:-1]}
    assert len(starts) == 1, "the messages start in one column"


def test_a_sane_production_configuration_exits_0_without_aws(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Secret from the environment, gunicorn, no endpoint: all OK, and AWS is never called."""
    # An unroutable endpoint would fail any SQS call; without --aws none is made.
    monkeypatch.setenv("ELASTICJOBS_SECRET", "k" + SECRET)
    settings = base_settings(None, "prod-")
    settings["elasticjobs.secret"] = None  # type: ignore[assignment]
    ini = write_ini(tmp_path, settings, GUNICORN)

    status, findings = doctor(capsys, ini)

    assert status == 0
    assert lines(findings, "FAIL") == []
    assert lines(findings, "WARN") == []
    assert {"secret", "region", "serving", "periodic job nightly_report"} <= {
        finding["check"] for finding in findings
    }


@pytest.mark.parametrize(
    ("overrides", "server", "status", "check", "expected"),
    [
        ({"elasticjobs.secret": None}, None, "FAIL", "secret", "is not set"),
        ({"elasticjobs.secret": "short"}, None, "FAIL", "secret", "5 characters long"),
        (
            {"elasticjobs.secret": f"{SECRET} {OLD_SECRET} {SECRET}"},
            None,
            "WARN",
            "secret",
            "repeats a secret (positions #1, #3)",
        ),
        ({"elasticjobs.process_jobs": "maybe"}, None, "FAIL", "processing", "is not a boolean"),
        ({"elasticjobs.aws_region": None}, None, "FAIL", "region", "is not set"),
        (
            {"elasticjobs.endpoint_url": "ftp://127.0.0.1"},
            None,
            "FAIL",
            "endpoint",
            "is not an http(s) URL",
        ),
        (
            {"elasticjobs.trusted_networks": "0.0.0.0/0"},
            None,
            "FAIL",
            "trusted networks",
            "trusts every address",
        ),
        (
            {"elasticjobs.trusted_networks": "127.0.0.0/8 8.8.8.0/24"},
            None,
            "FAIL",
            "trusted networks",
            "public addresses",
        ),
        (
            {"elasticjobs.trusted_networks": "127.0.0.0/8 10.0.0.0/8"},
            None,
            "WARN",
            "trusted networks",
            "wider than a Docker bridge",
        ),
        (
            {"elasticjobs.periodic_tasks_route": "/"},
            None,
            "FAIL",
            "periodic route",
            "also the path the daemon posts jobs to",
        ),
        (
            {"elasticjobs.secert": "x"},
            None,
            "WARN",
            "unknown setting",
            "did you mean elasticjobs.secret?",
        ),
        (
            {"elasticjobs.message_ttl": "5"},
            None,
            "FAIL",
            "settings",
            "message_ttl = 5 is out of range",
        ),
        (
            {},
            WAITRESS,
            "FAIL",
            "serving",
            "403 source_unknown; set elasticjobs.remote_addr_is_client",
        ),
        (
            {"elasticjobs.remote_addr_is_client": "true"},
            {**WAITRESS, "trusted_proxy": "127.0.0.1"},
            "WARN",
            "serving",
            "without trusted_proxy_headers",
        ),
        (
            {},
            {**WAITRESS, "trusted_proxy": "127.0.0.1", "trusted_proxy_headers": "x-forwarded-for"},
            "WARN",
            "serving",
            "set elasticjobs.remote_addr_is_client = true",
        ),
        ({}, {"use": "egg:uwsgi#main"}, "WARN", "serving", "which doctor does not know"),
        (
            {"elasticjobs.dashboard.view_permission": "ops"},
            None,
            "FAIL",
            "dashboard",
            "no security policy",
        ),
        (
            {
                "elasticjobs.dashboard.allow_anonymous": "true",
                "elasticjobs.dashboard.view_permission": "ops",
                "elasticjobs.dashboard.manage_permission": "ops",
            },
            None,
            "WARN",
            "dashboard",
            "whoever can look can also redrive",
        ),
        (
            {"elasticjobs.dashboard.allow_anonymous": "perhaps"},
            None,
            "FAIL",
            "dashboard",
            "is not a boolean",
        ),
        (
            {"elasticjobs.dashboard.path": "/"},
            None,
            "FAIL",
            "dashboard",
            "must be a path of its own",
        ),
        (
            {BROKEN_PERIODIC: "true"},
            None,
            "FAIL",
            "periodic job broken_periodic",
            "defaults do not load",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) and " " not in value else None,
)
def test_each_broken_setting_gives_its_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    sqs_endpoint: str,
    overrides: dict[str, str | None],
    server: dict[str, str] | None,
    status: str,
    check: str,
    expected: str,
) -> None:
    """One finding names the setting and its fix; the exit status follows FAIL."""
    ini = write_ini(tmp_path, {**base_settings(sqs_endpoint, "t-"), **overrides}, server)

    exit_status, findings = doctor(capsys, ini)

    matching = [
        finding
        for finding in findings
        if finding["check"] == check and expected in finding["message"]
    ]
    assert [finding["status"] for finding in matching] == [status], findings
    assert exit_status == (1 if lines(findings, "FAIL") else 0)
    assert exit_status == (1 if status == "FAIL" else 0)


@pytest.mark.parametrize(
    ("overrides", "status", "expected"),
    [
        (
            {"elasticjobs.dashboard.allow_anonymous": "true"},
            "FAIL",
            "can redrive, delete and purge",
        ),
        (
            {
                "elasticjobs.dashboard.allow_anonymous": "true",
                "elasticjobs.dashboard.read_only": "true",
            },
            "WARN",
            "sees job arguments",
        ),
        (
            {"elasticjobs.secret": "dev-only-not-secret-0123456789-abcdefghij"},
            "FAIL",
            "looks like a placeholder",
        ),
        (
            {"elasticjobs.process_jobs": "true"},
            "WARN",
            "PROCESS_ELASTIC_JOBS=true on the worker environment only",
        ),
        (
            {"elasticjobs.remote_addr_is_client": "true"},
            "WARN",
            "right only if nothing proxies to the app",
        ),
    ],
)
def test_outside_development_stricter_rules_apply(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    overrides: dict[str, str],
    status: str,
    expected: str,
) -> None:
    """Without a local SQS, anonymous dashboards, placeholder secrets and ini flags are flagged."""
    settings = {**base_settings(None, "prod-"), **overrides}
    ini = write_ini(tmp_path, settings, WAITRESS)

    _, findings = doctor(capsys, ini)

    assert [line for line in lines(findings, status) if expected in line], findings


def test_the_same_settings_in_development_are_fine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sqs_endpoint: str
) -> None:
    """With a local SQS, anonymous access and the ini's processing flag are expected."""
    settings = {
        **base_settings(sqs_endpoint, "t-"),
        "elasticjobs.dashboard.allow_anonymous": "true",
        "elasticjobs.process_jobs": "true",
        "elasticjobs.remote_addr_is_client": "true",
    }
    ini = write_ini(tmp_path, settings, WAITRESS)

    status, findings = doctor(capsys, ini)

    assert status == 0
    assert lines(findings, "FAIL") == []


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            '{name: "nightly_reprot", url: "/periodic_tasks", schedule: "0 3 * * *"}',
            "did you mean 'nightly_report'",
        ),
        ('{name: "noop", url: "/periodic_tasks", schedule: "0 3 * * *"}', "not declared periodic"),
        (
            '{name: "nightly_report", url: "/cron", schedule: "0 3 * * *"}',
            "is not the periodic-task route",
        ),
        (
            '{name: "nightly_report", url: "/periodic_tasks", schedule: "0 25 * * *"}',
            "not a valid cron expression",
        ),
    ],
)
def test_the_cron_yaml_next_to_the_ini_is_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sqs_endpoint: str, entry: str, expected: str
) -> None:
    """A cron.yaml entry that would never run is a FAIL naming it."""
    (tmp_path / "cron.yaml").write_text(f"version: 1\ncron:\n  - {entry}\n", encoding="utf-8")
    ini = write_ini(tmp_path, base_settings(sqs_endpoint, "t-"))

    status, findings = doctor(capsys, ini)

    assert status == 1
    assert [
        line
        for line in lines(findings, "FAIL")
        if line.startswith("cron.yaml") and expected in line
    ]


def test_a_periodic_job_missing_from_cron_yaml_is_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sqs_endpoint: str
) -> None:
    """A job declared periodic that no entry runs is probably forgotten."""
    (tmp_path / "cron.yaml").write_text("version: 1\ncron: []\n", encoding="utf-8")
    ini = write_ini(tmp_path, base_settings(sqs_endpoint, "t-"))

    status, findings = doctor(capsys, ini)

    assert status == 0
    assert [
        line for line in lines(findings, "WARN") if "'nightly_report' is declared periodic" in line
    ]


def test_an_audit_database_behind_the_head_revision_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sqs_endpoint: str
) -> None:
    """An audit database without tables: FAIL with the upgrade command, and no file is created."""
    database = tmp_path / "audit.sqlite"
    settings = {
        **base_settings(sqs_endpoint, "t-"),
        "elasticjobs.audit.url": f"sqlite:///{database}",
    }
    ini = write_ini(tmp_path, settings)

    status, findings = doctor(capsys, ini)

    assert status == 1
    assert [line for line in lines(findings, "FAIL") if "elasticjobs db upgrade INI" in line]
    assert not database.exists()


def test_an_audit_database_at_head_is_ok(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sqs_endpoint: str
) -> None:
    """After `elasticjobs db upgrade`, the audit log is reported at its head revision."""
    settings = {
        **base_settings(sqs_endpoint, "t-"),
        "elasticjobs.audit.url": f"sqlite:///{tmp_path / 'audit.sqlite'}",
    }
    ini = write_ini(tmp_path, settings)
    assert main(["db", "upgrade", str(ini)]) == 0
    capsys.readouterr()

    status, findings = doctor(capsys, ini)

    assert status == 0
    assert [
        line for line in lines(findings, "OK") if line.startswith("audit log") and "(head)" in line
    ]


def test_an_unreachable_audit_database_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sqs_endpoint: str
) -> None:
    """A database that cannot be opened is named, without its password."""
    settings = {
        **base_settings(sqs_endpoint, "t-"),
        "elasticjobs.audit.url": f"sqlite:///{tmp_path}/no/such/folder/audit.sqlite",
    }
    (tmp_path / "no").write_text("a file where a folder should be", encoding="utf-8")
    ini = write_ini(tmp_path, settings)

    status, findings = doctor(capsys, ini)

    assert status == 1
    assert [line for line in lines(findings, "FAIL") if line.startswith("audit log")]


def test_a_missing_ini_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Exit status 2, naming the file."""
    status = main(["doctor", str(tmp_path / "missing.ini")])

    assert status == 2
    assert "missing.ini' not found" in capsys.readouterr().err


# -- --aws, against moto's SQS server --------------------------------------------------------


@pytest.fixture
def queues(sqs: Any, queue_prefix: str) -> Callable[..., str]:
    """Create a queue (and, with a redrive policy, its dead-letter queue) in moto."""

    def create(
        name: str, *, redrive: bool = True, dlq_retention: str = FOURTEEN_DAYS, **attributes: str
    ) -> str:
        attributes = {"VisibilityTimeout": "300", "MessageRetentionPeriod": FOUR_DAYS, **attributes}
        if redrive:
            dead = sqs.create_queue(
                QueueName=f"{queue_prefix}{name}-dead-letters",
                Attributes={"MessageRetentionPeriod": dlq_retention},
            )["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": arn, "maxReceiveCount": "10"}
            )
        url: str = sqs.create_queue(QueueName=queue_prefix + name, Attributes=attributes)[
            "QueueUrl"
        ]
        return url

    return create


def aws_lines(findings: list[dict[str, str]], status: str, queue: str) -> list[str]:
    return [line for line in lines(findings, status) if line.startswith(f"queue {queue}:")]


@pytest.mark.parametrize(
    ("role", "process_jobs", "probed"),
    [
        ("worker", "true", "sqs:SendMessage, sqs:DeleteMessage, sqs:ChangeMessageVisibility"),
        ("web", "false", "sqs:SendMessage"),
    ],
)
def test_aws_queues_with_redrive_policies_pass(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    sqs_endpoint: str,
    queue_prefix: str,
    queues: Callable[..., str],
    role: str,
    process_jobs: str,
    probed: str,
) -> None:
    """Every queue found, redriven to a longer-lived DLQ; a worker's delete rights probed too."""
    for name in ("default", "images", "contracts"):
        queues(name)
    settings = base_settings(sqs_endpoint, queue_prefix)
    settings["elasticjobs.process_jobs"] = process_jobs
    settings["elasticjobs.remote_addr_is_client"] = "true"
    ini = write_ini(tmp_path, settings)

    status, findings = doctor(capsys, ini, "--aws")

    assert status == 0, lines(findings, "FAIL")
    for name in ("default", "images", "contracts"):
        ok = aws_lines(findings, "OK", name)
        assert any("exists" in line for line in ok)
        assert any("dead letters go to" in line and "after 10 receives" in line for line in ok)
        [allowed] = [line for line in ok if "allowed: sqs:" in line]
        assert allowed.endswith(f"allowed: sqs:GetQueueUrl, sqs:GetQueueAttributes, {probed}")
    assert [line for line in lines(findings, "WARN") if "sqs:ReceiveMessage is not probed" in line]


def test_aws_the_permission_probes_leave_the_queue_empty(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    sqs: Any,
    sqs_endpoint: str,
    queue_prefix: str,
    queues: Callable[..., str],
) -> None:
    """The probes are refused on their parameters: no message is sent, none is hidden."""
    urls = [queues(name) for name in ("default", "images", "contracts")]
    ini = write_ini(tmp_path, base_settings(sqs_endpoint, queue_prefix))

    doctor(capsys, ini, "--aws")

    for url in urls:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert attributes["ApproximateNumberOfMessages"] == "0"
        assert attributes["ApproximateNumberOfMessagesDelayed"] == "0"


@pytest.mark.parametrize(
    ("images", "expected"),
    [
        (None, "does not exist; create it with a dead-letter queue"),
        ({"redrive": False}, "no redrive policy"),
        ({"dlq_retention": FOUR_DAYS}, "not longer than the queue itself"),
        ({"VisibilityTimeout": "60"}, None),
        ({"MaximumMessageSize": "1024"}, "MaximumMessageSize is 1024 bytes"),
    ],
    ids=[
        "missing-queue",
        "no-redrive",
        "short-dlq-retention",
        "short-visibility",
        "small-messages",
    ],
)
def test_aws_each_queue_problem_gives_its_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    sqs_endpoint: str,
    queue_prefix: str,
    queues: Callable[..., str],
    images: dict[str, Any] | None,
    expected: str | None,
) -> None:
    """A missing queue, no redrive policy, a short DLQ retention or size: FAIL; visibility: WARN."""
    queues("default")
    queues("contracts")
    if images is not None:
        queues("images", **images)
    ini = write_ini(tmp_path, base_settings(sqs_endpoint, queue_prefix))

    status, findings = doctor(capsys, ini, "--aws")

    if expected is None:
        assert status == 0
        assert [line for line in aws_lines(findings, "WARN", "images") if "runs twice" in line]
    else:
        assert status == 1
        assert [line for line in aws_lines(findings, "FAIL", "images") if expected in line]
        assert aws_lines(findings, "FAIL", "default") == []


def test_aws_against_the_embedded_sqs_placeholder_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """endpoint_url with port 0 exists only inside `elasticjobs dev`: --aws says so."""
    settings = base_settings("http://127.0.0.1:0", "t-")
    ini = write_ini(tmp_path, settings)

    status, findings = doctor(capsys, ini, "--aws")

    assert status == 1
    assert [line for line in lines(findings, "FAIL") if "only `elasticjobs dev` starts" in line]


def test_aws_in_a_subprocess_prints_the_table(
    tmp_path: Path, sqs_endpoint: str, queue_prefix: str, queues: Callable[..., str]
) -> None:
    """The real command, with the endpoint from ELASTICJOBS_ENDPOINT_URL: a missing queue fails."""
    queues("default")
    queues("images")
    settings = base_settings(None, queue_prefix)
    ini = write_ini(tmp_path, settings, GUNICORN)

    result = run_cli("doctor", str(ini), "--aws", env={"ELASTICJOBS_ENDPOINT_URL": sqs_endpoint})

    assert result.returncode == 1, result.stderr
    failures = [row for row in result.stdout.splitlines() if row.startswith("FAIL")]
    assert len(failures) == 1
    assert "queue contracts" in failures[0]
    assert f"'{queue_prefix}contracts' in us-east-1 does not exist" in failures[0]
