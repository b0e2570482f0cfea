"""Check ``cron.yaml`` against the application before any task fires.

Each mistake below passes every syntax check, yet makes each run of the task fail
until SQS moves it to the dead-letter queue (after MaxRetries receives): a name
that is no job, a job not declared periodic, and a url that is not the worker's
periodic-task route (the app answers 404). :func:`cron_problems` lists them, one
line each naming the entry and the fix, for ``elasticjobs dev`` (which refuses to
start) and any later command that checks a bundle.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from pyramid_elasticjobs.exceptions import ConfigurationError, UnknownJobError
from pyramid_elasticjobs.runtime import get_runtime

from .cron import PeriodicTask, parse_cron

if TYPE_CHECKING:
    from pyramid.registry import Registry

    from pyramid_elasticjobs.jobs import JobRegistry

PERIODIC_ROUTE_KEY = "elasticjobs.periodic_tasks_route"


def read_cron(path: str | Path, key: str) -> tuple[PeriodicTask, ...]:
    """Read and parse a ``cron.yaml``; an unreadable file is an error naming ``key``.

    ``key`` says where the path came from (``elasticjobs.sqsd.cron_path``, ...), so
    that the message names what to change.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigurationError(
            f"cannot read the periodic tasks file {str(path)!r} ({key}): "
            f"{error.strerror or error}; fix {key}, or give the file read permission"
        ) from None
    return parse_cron(text, str(path))


def cron_problems(
    tasks: Iterable[PeriodicTask],
    jobs: JobRegistry,
    periodic_route: str,
    source: str = "cron.yaml",
) -> list[str]:
    """What would fail in each entry: unknown job, job not periodic, url not the route."""
    problems = []
    for task in tasks:
        where = f"{source}: entry {task.name!r}"
        try:
            definition = jobs.get(task.name)
        except UnknownJobError:
            problems.append(f"{where}: {_no_such_job(task.name, jobs)}")
        else:
            if not definition.periodic:
                problems.append(
                    f"{where}: job {task.name!r} is not declared periodic, so the worker "
                    "refuses to start it from cron.yaml; declare it with @job(periodic=True) "
                    "(every schema field needs a default)"
                )
        if task.url != periodic_route:
            problems.append(
                f"{where}: url {task.url!r} is not the periodic-task route "
                f"{periodic_route!r}, so the application would answer 404; set "
                f"'url: {periodic_route}' (or {PERIODIC_ROUTE_KEY} = {task.url})"
            )
    return problems


def check_cron(
    tasks: Iterable[PeriodicTask], registry: Registry, source: str = "cron.yaml"
) -> list[str]:
    """:func:`cron_problems` against the jobs and settings of a configured application."""
    runtime = get_runtime(registry)
    return cron_problems(tasks, runtime.jobs, runtime.settings.periodic_tasks_route, source)


def _no_such_job(name: str, jobs: JobRegistry) -> str:
    names = jobs.names()
    close = difflib.get_close_matches(name, names, n=1)
    if close:
        return f"no job is named {name!r}; did you mean {close[0]!r}? (name: is the job to run)"
    known = ", ".join(repr(known) for known in names) or "none"
    return (
        f"no job is named {name!r} (registered jobs: {known}); name: must be the name of "
        "a job declared with @job(periodic=True)"
    )
