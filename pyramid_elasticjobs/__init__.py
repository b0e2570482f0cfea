"""Background jobs and periodic tasks for Pyramid apps on Elastic Beanstalk worker environments.

``config.include("pyramid_elasticjobs")`` adds ``config.add_job``, ``request.elasticjobs``
and the worker tween (inert unless ``elasticjobs.process_jobs`` is on).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from pyramid.config import PHASE1_CONFIG
from pyramid.tweens import EXCVIEW, INGRESS

from .client import EnqueuedJob, JobClient, PendingJob, RequestClient, get_client
from .context import JobContext
from .events import (
    JobDiscarded,
    JobDuplicate,
    JobEnqueued,
    JobEvent,
    JobFailed,
    JobRejected,
    JobRescheduled,
    JobStarted,
    JobSucceeded,
)
from .exceptions import (
    BatchEnqueueError,
    ConfigurationError,
    ElasticJobsError,
    EnqueueError,
    InvalidDelay,
    InvalidEnqueueOption,
    InvalidJobArguments,
    MessageTooLarge,
    QueueNotFound,
    UnknownJobError,
)
from .jobs import JOBS_KEY, JobRegistry, add_job, job
from .runtime import RUNTIME_KEY, Runtime
from .settings import audit_url, parse_settings

if TYPE_CHECKING:
    from pyramid.config import Configurator

__all__ = [
    "BatchEnqueueError",
    "ConfigurationError",
    "ElasticJobsError",
    "EnqueueError",
    "EnqueuedJob",
    "InvalidDelay",
    "InvalidEnqueueOption",
    "InvalidJobArguments",
    "JobClient",
    "JobContext",
    "JobDiscarded",
    "JobDuplicate",
    "JobEnqueued",
    "JobEvent",
    "JobFailed",
    "JobRejected",
    "JobRescheduled",
    "JobStarted",
    "JobSucceeded",
    "MessageTooLarge",
    "PendingJob",
    "QueueNotFound",
    "UnknownJobError",
    "get_client",
    "includeme",
    "job",
]


def includeme(config: Configurator) -> None:
    """Set up pyramid_elasticjobs; settings are read at commit so the app can still change them."""
    jobs = config.registry[JOBS_KEY] = JobRegistry()
    config.add_directive("add_job", add_job)
    config.add_request_method(RequestClient(), "elasticjobs")
    # Under pyramid_tm (when present) so a job runs inside the request's transaction;
    # over the exception view so the job's errors reach us, not the app's error pages.
    config.add_tween(
        "pyramid_elasticjobs.worker.worker_tween_factory",
        under=("pyramid_tm.tm_tween_factory", INGRESS),
        over=EXCVIEW,
    )
    # Over pyramid_tm, to announce a job's success only once its transaction committed.
    config.add_tween(
        "pyramid_elasticjobs.commit.commit_tween_factory",
        over=("pyramid_tm.tm_tween_factory", "pyramid_elasticjobs.worker.worker_tween_factory"),
    )

    def register() -> None:
        settings = parse_settings(config.get_settings(), os.environ)
        config.registry[RUNTIME_KEY] = Runtime.create(settings, jobs)

    config.action("elasticjobs.settings", register, order=PHASE1_CONFIG)
    # The audit log is a wing of its own (SQLAlchemy): only a configured URL brings it in.
    if audit_url(config.get_settings(), os.environ):
        try:
            config.include("pyramid_elasticjobs.audit")
        except ModuleNotFoundError as error:
            raise ConfigurationError(
                f"elasticjobs.audit.url is set, but the audit log needs {error.name!r}: "
                "pip install 'pyramid_elasticjobs[audit]' (and [postgresql] for PostgreSQL), "
                "or unset elasticjobs.audit.url"
            ) from None
