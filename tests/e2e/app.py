"""The application the end-to-end tests serve: their jobs, a ledger of runs and events.

``main`` is a paste app factory (``use = call:tests.e2e.app:main``), so the
``elasticjobs dev`` subprocess can serve it too; there the ledger also appends
each run to the file named by ``e2e.ledger_path``, and the name of each job that
starts to ``e2e.started_path``, for the test to read.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from pyramid.config import Configurator
from pyramid.registry import Registry

from pyramid_elasticjobs import JobContext, JobEvent

LEDGER_KEY = "e2e.ledger"


@dataclass(frozen=True, slots=True)
class Run:
    name: str
    job_id: str
    n: int
    attempt: int
    succeeded: bool
    scheduled_at: str | None
    at: float  # time.monotonic() when the job ran


class Ledger:
    """Every run and every job event, in order; thread-safe."""

    def __init__(self, path: str | None = None, started_path: str | None = None) -> None:
        self.path = path
        self.started_path = started_path
        self._runs: list[Run] = []
        self._events: list[JobEvent] = []
        self._lock = threading.Lock()

    def record(self, ctx: JobContext, n: int, *, succeeded: bool) -> None:
        scheduled_at = ctx.scheduled_at.isoformat() if ctx.scheduled_at else None
        run = Run(ctx.name, ctx.job_id, n, ctx.attempt, succeeded, scheduled_at, time.monotonic())
        with self._lock:
            self._runs.append(run)
            if self.path:
                with open(self.path, "a", encoding="utf-8") as file:
                    file.write(json.dumps(asdict(run)) + "\n")

    def record_start(self, ctx: JobContext, n: int) -> None:
        if self.started_path:
            with self._lock, open(self.started_path, "a", encoding="utf-8") as file:
                file.write(f"{ctx.name} {n}\n")

    def record_event(self, event: JobEvent) -> None:
        with self._lock:
            self._events.append(event)

    def runs(self, name: str | None = None) -> list[Run]:
        with self._lock:
            return [run for run in self._runs if name is None or run.name == name]

    def events(self, kind: type[JobEvent] = JobEvent) -> list[Any]:
        with self._lock:
            return [event for event in self._events if isinstance(event, kind)]


def ledger(registry: Registry) -> Ledger:
    found: Ledger = registry[LEDGER_KEY]
    return found


class StatusRecorder:
    """WSGI middleware noting the status of every answer to the daemon, by message id."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.registry = app.registry  # what DevStack looks for
        self.statuses: list[tuple[str, int]] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        def recording_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            with self._lock:
                self.statuses.append(
                    (environ.get("HTTP_X_AWS_SQSD_MSGID", ""), int(status.split()[0]))
                )
            return start_response(status, headers, exc_info)

        return self.app(environ, recording_start_response)

    def statuses_of(self, message_id: str) -> list[int]:
        with self._lock:
            return [status for seen, status in self.statuses if seen == message_id]


def main(global_config: dict[str, Any], **settings: Any) -> StatusRecorder:
    with Configurator(settings=settings) as config:
        config.include("pyramid_elasticjobs")
        config.registry[LEDGER_KEY] = journal = Ledger(
            settings.get("e2e.ledger_path"), settings.get("e2e.started_path")
        )
        config.add_subscriber(journal.record_event, JobEvent)
        config.scan("tests.e2e.jobs")
    return StatusRecorder(config.make_wsgi_app())
