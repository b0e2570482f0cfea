"""``elasticjobs cron check``: every cron.yaml entry would run, or the command says which not."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyramid_elasticjobs.cli import main

from .cli_support import BROKEN_PERIODIC, base_settings, run_cli, write_ini

GOOD = (
    "version: 1\ncron:\n"
    '  - {name: "nightly_report", url: "/periodic_tasks", schedule: "0 23 * * *"}\n'
)


@pytest.fixture
def ini(tmp_path: Path, sqs_endpoint: str) -> Path:
    return write_ini(tmp_path, base_settings(sqs_endpoint, "t-"))


def test_help_names_the_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    """--help of `cron check` names INI, CRON_YAML and the exit statuses."""
    with pytest.raises(SystemExit) as exited:
        main(["cron", "check", "--help"])

    text = capsys.readouterr().out
    assert exited.value.code == 0
    for expected in ("INI", "CRON_YAML", "periodic=True", "Exit status"):
        assert expected in text


def test_a_good_cron_yaml_next_to_the_ini_passes(ini: Path, tmp_path: Path) -> None:
    """The real command, finding cron.yaml beside the ini: exit 0 and one OK line."""
    (tmp_path / "cron.yaml").write_text(GOOD, encoding="utf-8")

    result = run_cli("cron", "check", str(ini))

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("OK ")
    assert "1 task(s)" in result.stdout


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        (
            '  - {name: "nightly_reprot", url: "/periodic_tasks", schedule: "0 3 * * *"}',
            "did you mean 'nightly_report'",
        ),
        (
            '  - {name: "noop", url: "/periodic_tasks", schedule: "0 3 * * *"}',
            "not declared periodic",
        ),
        (
            '  - {name: "nightly_report", url: "/", schedule: "0 3 * * *"}',
            "is not the periodic-task route",
        ),
        (
            '  - {name: "nightly_report", url: "/periodic_tasks", schedule: "61 * * * *"}',
            "not a valid cron expression",
        ),
        (
            '  - {name: "nightly_report", url: "/periodic_tasks", schedule: "0 3 * *"}',
            "not a 5-field cron expression",
        ),
        (
            '  - {name: "nightly_report", url: "/periodic_tasks", schedule: "0 3 * * *"}\n'
            '  - {name: "nightly_report", url: "/periodic_tasks", schedule: "0 4 * * *"}',
            "duplicate name",
        ),
    ],
    ids=[
        "unknown-job",
        "not-periodic",
        "wrong-url",
        "bad-schedule",
        "four-fields",
        "duplicate-name",
    ],
)
def test_each_problem_fails_with_its_fix(
    ini: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], entries: str, expected: str
) -> None:
    """Exit 1, and a FAIL line naming the entry and what to change."""
    cron = tmp_path / "other-cron.yaml"
    cron.write_text(f"version: 1\ncron:\n{entries}\n", encoding="utf-8")

    status = main(["cron", "check", str(ini), str(cron)])

    output = capsys.readouterr().out
    assert status == 1
    assert output.startswith("FAIL ")
    assert expected in output


def test_a_periodic_job_whose_defaults_do_not_load_fails(
    tmp_path: Path, sqs_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """An entry naming a periodic job whose own defaults fail validation would fail each run."""
    ini = write_ini(tmp_path, {**base_settings(sqs_endpoint, "t-"), BROKEN_PERIODIC: "true"})
    (tmp_path / "cron.yaml").write_text(
        'version: 1\ncron:\n  - {name: "broken_periodic", url: "/periodic_tasks", '
        'schedule: "0 3 * * *"}\n',
        encoding="utf-8",
    )

    status = main(["cron", "check", str(ini)])

    assert status == 1
    assert "'broken_periodic': its schema's defaults do not load" in capsys.readouterr().out


def test_a_missing_cron_yaml_is_a_usage_error(
    ini: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No cron.yaml beside the ini and none given: exit 2, saying where it looked."""
    status = main(["cron", "check", str(ini)])

    assert status == 2
    assert "no cron.yaml at" in capsys.readouterr().err
