"""Periodic tasks: ``cron.yaml`` as Elastic Beanstalk reads it, and the messages it produces.

On Elastic Beanstalk the leader instance sends one message per due task into the
worker queue; whichever daemon receives it POSTs to the task's ``url`` with an
empty body. The message format below is that of the real daemon, so an
application sees the same requests locally and in production.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from croniter import croniter

from pyramid_elasticjobs.exceptions import ConfigurationError

SCHEDULED_JOB_BODY = "elasticbeanstalk scheduled job"
PATH_ATTRIBUTE = "beanstalk.sqsd.path"
TASK_NAME_ATTRIBUTE = "beanstalk.sqsd.task_name"
SCHEDULED_TIME_ATTRIBUTE = "beanstalk.sqsd.scheduled_time"
#: The attributes a periodic message carries; the daemon turns them into dedicated headers.
PERIODIC_ATTRIBUTES = frozenset({PATH_ATTRIBUTE, TASK_NAME_ATTRIBUTE, SCHEDULED_TIME_ATTRIBUTE})

_CRON_FIELDS = "minute hour day-of-month month day-of-week"
#: A task's url becomes the request target: printable ASCII, no spaces (as the daemon sends).
_URL_PATH = re.compile(r"/[!-~]*")
#: A task's name becomes the X-Aws-Sqsd-Taskname header: printable ASCII, no edge spaces.
_TASK_NAME = re.compile(r"[!-~](?:[ -~]*[!-~])?")


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key: object, line: int) -> None:
        super().__init__(key, line)
        self.key, self.line = key, line


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice: PyYAML would silently keep the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise _DuplicateKey(key, key_node.start_mark.line + 1)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


@dataclass(frozen=True, slots=True)
class PeriodicTask:
    """One entry of ``cron.yaml``: POST to ``url`` whenever ``schedule`` (UTC) matches."""

    name: str
    url: str
    schedule: str

    def is_due(self, minute: datetime) -> bool:
        """True if the schedule matches this minute (seconds are ignored)."""
        return bool(croniter.match(self.schedule, minute.replace(second=0, microsecond=0)))

    def message(self, minute: datetime) -> dict[str, Any]:
        """SendMessage arguments (without QueueUrl) for the run due at ``minute``."""
        return {
            "MessageBody": SCHEDULED_JOB_BODY,
            "MessageAttributes": {
                name: {"DataType": "String", "StringValue": value}
                for name, value in (
                    (PATH_ATTRIBUTE, self.url),
                    (TASK_NAME_ATTRIBUTE, self.name),
                    (SCHEDULED_TIME_ATTRIBUTE, scheduled_time(minute)),
                )
            },
        }


def scheduled_time(minute: datetime) -> str:
    """``2024-05-01T23:00:00Z``: the minute, in UTC, as the daemon writes it."""
    moment = minute.astimezone(UTC) if minute.tzinfo else minute.replace(tzinfo=UTC)
    return moment.replace(second=0, microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def periodic_task_of(message: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """(url, task name, scheduled time) if a received message is a periodic task, else None."""
    attributes = message.get("MessageAttributes") or {}
    if PATH_ATTRIBUTE not in attributes or TASK_NAME_ATTRIBUTE not in attributes:
        return None
    scheduled = attributes.get(SCHEDULED_TIME_ATTRIBUTE, {}).get("StringValue", "")
    return (
        attributes[PATH_ATTRIBUTE].get("StringValue", "/"),
        attributes[TASK_NAME_ATTRIBUTE].get("StringValue", ""),
        scheduled,
    )


def load_cron(path: str | Path) -> tuple[PeriodicTask, ...]:
    """Read and validate a ``cron.yaml`` file; raise ConfigurationError saying what is wrong."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigurationError(
            f"cannot read the periodic tasks file {str(path)!r}: {error.strerror or error}; "
            "check elasticjobs.sqsd.cron_path (or sqsd's --cron): a cron.yaml as Elastic "
            "Beanstalk reads it"
        ) from None
    return parse_cron(text, str(path))


def parse_cron(text: str, source: str = "cron.yaml") -> tuple[PeriodicTask, ...]:
    """Parse ``cron.yaml`` text: ``version: 1`` and a ``cron:`` list of name/url/schedule."""
    try:
        document = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader
    except _DuplicateKey as error:
        raise ConfigurationError(
            f"{source}, line {error.line}: the key {error.key!r} is given twice (YAML would "
            "keep only the last); give each key once, and each task its own entry"
        ) from None
    except yaml.YAMLError as error:
        raise ConfigurationError(
            f"{source} is not valid YAML ({error}); see the cron.yaml format in the docs"
        ) from None
    if not isinstance(document, dict):
        raise ConfigurationError(
            f"{source} must be a mapping with 'version: 1' and a 'cron:' list of tasks"
        )
    if "version" not in document:
        raise ConfigurationError(f"{source}: missing 'version: 1' at the top")
    if document["version"] != 1:
        raise ConfigurationError(
            f"{source}: version is {document.get('version')!r}; only 'version: 1' exists"
        )
    entries = document.get("cron")
    if not isinstance(entries, list):
        raise ConfigurationError(
            f"{source}: 'cron' must be a list of tasks, each with name, url and schedule"
        )
    tasks: list[PeriodicTask] = []
    for index, entry in enumerate(entries):
        task = _task(source, index, entry)
        if any(other.name == task.name for other in tasks):
            raise ConfigurationError(
                f"{_where(source, index, task.name)}: duplicate name; each task needs a unique name"
            )
        tasks.append(task)
    return tuple(tasks)


def _where(source: str, index: int, name: object) -> str:
    label = f" ({name!r})" if isinstance(name, str) and name else ""
    return f"{source}: cron entry #{index}{label}"


def _task(source: str, index: int, entry: object) -> PeriodicTask:
    if not isinstance(entry, dict):
        raise ConfigurationError(
            f"{_where(source, index, None)} is {type(entry).__name__}, not a mapping; give "
            "name, url and schedule"
        )
    where = _where(source, index, entry.get("name"))
    missing = [key for key in ("name", "url", "schedule") if key not in entry]
    if missing:
        raise ConfigurationError(f"{where}: missing {', '.join(missing)}")
    unknown = sorted(str(key) for key in entry if key not in ("name", "url", "schedule"))
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown key {', '.join(unknown)}; an entry has only name, url and schedule"
        )
    name, url, schedule = entry["name"], entry["url"], entry["schedule"]
    if not isinstance(name, str) or not name.strip():
        raise ConfigurationError(f"{where}: name must be a non-empty string")
    if not _TASK_NAME.fullmatch(name):
        raise ConfigurationError(
            f"{where}: name {name!r} cannot be delivered (it is sent as the "
            "X-Aws-Sqsd-Taskname header); use printable ASCII without line breaks, such as "
            "nightly_report"
        )
    if not isinstance(url, str) or not url.startswith("/") or any(c.isspace() for c in url):
        raise ConfigurationError(f"{where}: url {url!r} is not a path such as /periodic_tasks")
    if not _URL_PATH.fullmatch(url):
        raise ConfigurationError(
            f"{where}: url {url!r} cannot be delivered; use printable ASCII, percent-encoding "
            "anything else (e.g. /caf%C3%A9)"
        )
    _check_schedule(where, schedule)
    return PeriodicTask(name=name, url=url, schedule=" ".join(schedule.split()))


def _check_schedule(where: str, schedule: object) -> None:
    fields: Sequence[str] = schedule.split() if isinstance(schedule, str) else ()
    if len(fields) != len(_CRON_FIELDS.split()):
        raise ConfigurationError(
            f"{where}: schedule {schedule!r} is not a 5-field cron expression "
            f"({_CRON_FIELDS}, in UTC), e.g. '0 23 * * *'"
        )
    if not croniter.is_valid(" ".join(fields)):
        raise ConfigurationError(
            f"{where}: schedule {schedule!r} is not a valid cron expression; check each field "
            f"({_CRON_FIELDS}) and its range"
        )
