"""Every error pyramid_elasticjobs raises, in one flat family.

Each message says what was wrong and what to do about it; callers that need
details read the attributes rather than parsing the text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pyramid.exceptions import ConfigurationError as PyramidConfigurationError

if TYPE_CHECKING:
    from .client import EnqueuedJob


class ElasticJobsError(Exception):
    """Base class of every pyramid_elasticjobs error."""


class ConfigurationError(ElasticJobsError, PyramidConfigurationError):  # type: ignore[misc]
    """A setting or a job declaration is invalid; raised at start-up."""


class UnknownJobError(ElasticJobsError, LookupError):
    """No job is registered under this name."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        self.name = name
        hint = ", ".join(sorted(known)) or "none"
        super().__init__(
            f"no job named {name!r} is registered (registered jobs: {hint}); "
            "declare it with @job and config.scan(), or config.add_job()"
        )


class InvalidJobArguments(ElasticJobsError, ValueError):
    """Arguments do not satisfy the job's schema. ``errors`` maps each field to its problems."""

    def __init__(self, job_name: str, errors: Mapping[str, Any]) -> None:
        self.job_name = job_name
        self.errors = dict(errors)
        details = "; ".join(f"{field}: {_flatten(problem)}" for field, problem in errors.items())
        super().__init__(f"invalid arguments for job {job_name!r}: {details}")


def _flatten(problem: Any) -> str:
    if isinstance(problem, list | tuple):
        return " ".join(str(item) for item in problem)
    if isinstance(problem, dict):
        return "; ".join(f"{key}: {_flatten(value)}" for key, value in problem.items())
    return str(problem)


class EnqueueError(ElasticJobsError):
    """A job could not be handed to SQS; nothing was reported as enqueued."""

    def __init__(self, message: str, *, queue: str) -> None:
        self.queue = queue
        super().__init__(message)


class QueueNotFound(EnqueueError):
    """The SQS queue does not exist in the configured region."""

    def __init__(self, queue: str, queue_name: str, region: str) -> None:
        self.queue_name = queue_name
        self.region = region
        super().__init__(
            f"SQS queue {queue_name!r} (for queue {queue!r}) does not exist in region "
            f"{region!r}; create it, or check elasticjobs.queue_prefix and elasticjobs.aws_region",
            queue=queue,
        )


class MessageTooLarge(EnqueueError, ValueError):
    """The message (body plus attributes) is larger than ``elasticjobs.max_message_bytes``."""

    def __init__(self, queue: str, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(
            f"message for queue {queue!r} is {size} bytes, over the limit of {limit} bytes "
            "(elasticjobs.max_message_bytes); store large data elsewhere (S3, a database) "
            "and pass its key as a job argument",
            queue=queue,
        )


class InvalidEnqueueOption(EnqueueError, ValueError):
    """An option of ``enqueue`` (not a job argument) is wrong: its message names it."""


class InvalidDelay(InvalidEnqueueOption):
    """The requested delay or run_at is not possible on this queue."""


class BatchEnqueueError(EnqueueError):
    """Some entries of ``enqueue_many`` were not accepted by SQS.

    ``enqueued`` holds the jobs SQS confirmed; ``failures`` holds one
    :class:`BatchFailure` per job that was not sent (retry those).
    """

    def __init__(
        self, queue: str, enqueued: Sequence[EnqueuedJob], failures: Sequence[BatchFailure]
    ) -> None:
        self.enqueued = list(enqueued)
        self.failures = list(failures)
        first = failures[0]
        super().__init__(
            f"{len(failures)} of {len(failures) + len(enqueued)} jobs were not enqueued on queue "
            f"{queue!r} (first: entry {first.index}, {first.code}: {first.message}); "
            "retry the entries listed in .failures",
            queue=queue,
        )


class BatchFailure:
    """One entry of a batch that SQS did not accept."""

    __slots__ = ("arguments", "code", "index", "job_id", "message")

    def __init__(
        self, index: int, job_id: str, arguments: Mapping[str, Any], code: str, message: str
    ) -> None:
        self.index = index
        self.job_id = job_id
        self.arguments = arguments
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"BatchFailure(index={self.index}, code={self.code!r}, message={self.message!r})"


class EnvelopeError(ElasticJobsError, ValueError):
    """A message body is not a job envelope this version can read."""


class UnsupportedEnvelopeVersion(EnvelopeError):
    """The envelope was written by a newer (or unknown) version of pyramid_elasticjobs."""
