"""cron.yaml as Elastic Beanstalk reads it: parsing, validation errors, schedules, messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from pyramid_elasticjobs.daemon.cron import PeriodicTask, load_cron, parse_cron, scheduled_time
from pyramid_elasticjobs.exceptions import ConfigurationError

VALID = """\
version: 1
cron:
  - name: "nightly_report"
    url: "/periodic_tasks"
    schedule: "0 23 * * *"
  - name: heartbeat
    url: /periodic_tasks
    schedule: "*/5   *  * * 1-5"
"""


def test_a_valid_file_gives_one_task_per_entry() -> None:
    """Each entry becomes a PeriodicTask; the schedule's spacing is normalised."""
    assert parse_cron(VALID) == (
        PeriodicTask("nightly_report", "/periodic_tasks", "0 23 * * *"),
        PeriodicTask("heartbeat", "/periodic_tasks", "*/5 * * * 1-5"),
    )


def test_an_empty_task_list_is_allowed() -> None:
    """A file with no tasks yet is valid."""
    assert parse_cron("version: 1\ncron: []\n") == ()


def _entry(**fields: str) -> str:
    values = {"name": "report", "url": "/periodic_tasks", "schedule": "0 23 * * *", **fields}
    body = "\n".join(f"    {key}: {value!r}" for key, value in values.items() if value != "-")
    return f"version: 1\ncron:\n  - {body.lstrip()}\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version: 1\ncron: [\n", "not valid YAML"),
        ("- just a list\n", "must be a mapping"),
        ("cron: []\n", "missing 'version: 1'"),
        ("version: 2\ncron: []\n", "version is 2; only 'version: 1' exists"),
        ("version: 1\n", "'cron' must be a list"),
        ("version: 1\ncron:\n  - just text\n", "cron entry #0 is str, not a mapping"),
        (_entry(name="-"), "cron entry #0: missing name"),
        (_entry(url="-", schedule="-"), "cron entry #0 ('report'): missing url, schedule"),
        (_entry(name=""), "cron entry #0: name must be a non-empty string"),
        (_entry(url="periodic"), "url 'periodic' is not a path"),
        (_entry(schedule="0 23 * *"), "schedule '0 23 * *' is not a 5-field cron expression"),
        (_entry(schedule="0 0 23 * * *"), "is not a 5-field cron expression"),
        (_entry(schedule="@daily"), "is not a 5-field cron expression"),
        (_entry(schedule="0 25 * * *"), "schedule '0 25 * * *' is not a valid cron expression"),
        (_entry(schedule="0 23 * * mon-xyz"), "is not a valid cron expression"),
        (_entry(job="x"), "unknown key job"),
        (
            VALID + '  - name: heartbeat\n    url: /other\n    schedule: "0 * * * *"\n',
            "cron entry #2 ('heartbeat'): duplicate name",
        ),
        (
            _entry(url="/caf\u00e9"),
            "cron entry #0 ('report'): url '/caf\u00e9' cannot be delivered",
        ),
        (
            'version: 1\ncron:\n  - name: "a\\nb"\n    url: /p\n    schedule: "0 * * * *"\n',
            "cron entry #0 ('a\\nb'): name 'a\\nb' cannot be delivered",
        ),
        (_entry(name="r\u00e9cap"), "cron entry #0 ('r\u00e9cap'): name 'r\u00e9cap' cannot be"),
        (
            VALID.replace('    url: "/periodic_tasks"\n', '    url: "/a"\n    url: "/b"\n', 1),
            ", line 5: the key 'url' is given twice",
        ),
        ("version: 1\ncron: []\ncron: []\n", ", line 3: the key 'cron' is given twice"),
    ],
    ids=[
        "not-yaml",
        "not-a-mapping",
        "no-version",
        "version-2",
        "no-cron-list",
        "entry-not-mapping",
        "missing-name",
        "missing-url-and-schedule",
        "empty-name",
        "relative-url",
        "four-fields",
        "six-fields",
        "alias",
        "hour-out-of-range",
        "bad-weekday",
        "unknown-key",
        "duplicate-name",
        "non-ascii-url",
        "newline-in-name",
        "non-ascii-name",
        "duplicate-key-in-entry",
        "duplicate-top-level-key",
    ],
)
def test_a_malformed_file_is_refused_with_the_entry_and_the_problem(
    text: str, expected: str
) -> None:
    """ConfigurationError names the file, the entry (index and name) and what is wrong."""
    with pytest.raises(ConfigurationError) as raised:
        parse_cron(text, "app/cron.yaml")

    assert str(raised.value).startswith("app/cron.yaml")
    assert expected in str(raised.value)


def test_a_missing_file_is_a_configuration_error(tmp_path: Path) -> None:
    """The error names the path that could not be read."""
    missing = tmp_path / "cron.yaml"

    with pytest.raises(ConfigurationError, match="cannot read the periodic tasks file"):
        load_cron(missing)


def test_load_cron_reads_a_file(tmp_path: Path) -> None:
    """load_cron parses the file's text."""
    path = tmp_path / "cron.yaml"
    path.write_text(VALID, encoding="utf-8")

    assert [task.name for task in load_cron(path)] == ["nightly_report", "heartbeat"]


@pytest.mark.parametrize(
    ("schedule", "moment", "due"),
    [
        ("0 23 * * *", datetime(2024, 5, 1, 23, 0, tzinfo=UTC), True),
        ("0 23 * * *", datetime(2024, 5, 1, 23, 0, 59, tzinfo=UTC), True),
        ("0 23 * * *", datetime(2024, 5, 1, 23, 1, tzinfo=UTC), False),
        ("*/5 * * * *", datetime(2024, 5, 1, 10, 15, tzinfo=UTC), True),
        ("*/5 * * * *", datetime(2024, 5, 1, 10, 16, tzinfo=UTC), False),
        ("0 9 * * 1-5", datetime(2024, 5, 4, 9, 0, tzinfo=UTC), False),  # a Saturday
    ],
)
def test_a_task_is_due_in_the_minutes_its_schedule_matches(
    schedule: str, moment: datetime, due: bool
) -> None:
    """Schedules are matched per minute; seconds do not matter."""
    assert PeriodicTask("t", "/p", schedule).is_due(moment) is due


def test_scheduled_time_is_the_minute_in_utc() -> None:
    """Another time zone is converted; seconds are dropped; the suffix is Z."""
    paris = timezone(timedelta(hours=2))

    assert scheduled_time(datetime(2024, 5, 2, 1, 0, 42, tzinfo=paris)) == "2024-05-01T23:00:00Z"


def test_the_message_carries_the_beanstalk_attributes() -> None:
    """Body and String attributes are those of Elastic Beanstalk's scheduler."""
    task = PeriodicTask("nightly_report", "/periodic_tasks", "0 23 * * *")

    message = task.message(datetime(2024, 5, 1, 23, 0, tzinfo=UTC))

    assert message == {
        "MessageBody": "elasticbeanstalk scheduled job",
        "MessageAttributes": {
            "beanstalk.sqsd.path": {"DataType": "String", "StringValue": "/periodic_tasks"},
            "beanstalk.sqsd.task_name": {"DataType": "String", "StringValue": "nightly_report"},
            "beanstalk.sqsd.scheduled_time": {
                "DataType": "String",
                "StringValue": "2024-05-01T23:00:00Z",
            },
        },
    }
