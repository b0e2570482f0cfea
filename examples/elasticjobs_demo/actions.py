"""The buttons of the demo page: which job each one enqueues, and how."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pyramid_elasticjobs.jobs import JobFunction

from . import jobs


@dataclass(frozen=True, slots=True)
class Action:
    """A button: a job, its fixed arguments and, optionally, one argument the visitor types."""

    title: str
    description: str
    job: JobFunction
    arguments: Mapping[str, Any] = field(default_factory=dict)
    delay: timedelta | None = None
    visitor_argument: str | None = None

    @property
    def job_name(self) -> str:
        return str(getattr(self.job, "__name__", self.job))


ACTIONS: Mapping[str, Action] = {
    "welcome": Action(
        "Send a welcome email",
        "Runs once and succeeds.",
        jobs.send_welcome_email,
        {"user_id": 42, "email": "ada@example.com"},
    ),
    "failing": Action(
        "Sync an account to the CRM",
        "Fails every time: the daemon retries it until SQS moves it to the dead-letter queue.",
        jobs.sync_to_crm,
        {"account_id": 7},
    ),
    "slow": Action(
        "Build a slow report",
        "Sleeps while the daemon waits for the answer (0 to 60 seconds).",
        jobs.build_report,
        visitor_argument="seconds",
    ),
    "delayed": Action(
        f"Remind me in {jobs.REMINDER_DELAY_MINUTES} minutes",
        "Beyond SQS's 15-minute limit: the worker re-sends it until it is due.",
        jobs.send_reminder,
        {"account_id": 7},
        delay=timedelta(minutes=jobs.REMINDER_DELAY_MINUTES),
    ),
    "invalid": Action(
        "Enqueue with invalid arguments",
        "The job's schema refuses them before anything reaches SQS.",
        jobs.send_welcome_email,
        {"user_id": "forty-two", "email": "ada-at-example"},
    ),
}
