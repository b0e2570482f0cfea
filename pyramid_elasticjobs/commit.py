"""Under pyramid_tm, a job has succeeded only once its transaction has committed.

The worker tween runs inside pyramid_tm's transaction, which commits after the tween has
returned. So the worker leaves the announcement of a success (or a discard) in the
environ, and this tween, placed over pyramid_tm, makes it once the commit is done; if the
commit fails, the attempt is announced as failed with the commit's exception, which then
goes on up (the daemon gets a 500, never a 200).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from pyramid.interfaces import ITweens

from .runtime import get_runtime

if TYPE_CHECKING:
    from pyramid.registry import Registry
    from pyramid.request import Request
    from pyramid.response import Response

log = logging.getLogger("pyramid_elasticjobs.worker")

#: Where the worker leaves the outcome that waits for the commit.
OUTCOME_KEY = "elasticjobs.outcome"
TM_TWEEN = "pyramid_tm.tm_tween_factory"

Handler = Callable[["Request"], "Response"]


class Outcome(Protocol):
    """What becomes of an attempt once its transaction has ended."""

    def committed(self) -> None: ...

    def commit_failed(self, error: Exception) -> None: ...


def settle(request: Request, outcome: Outcome) -> None:
    """Announce ``outcome`` now, or after the commit when pyramid_tm runs a transaction."""
    environ = request.environ
    if environ.get("tm.active"):
        environ[OUTCOME_KEY] = outcome
    else:
        outcome.committed()


def commit_tween_factory(handler: Handler, registry: Registry) -> Handler:
    """Install the tween only where it has work: jobs are processed, under pyramid_tm."""
    tweens = registry.queryUtility(ITweens)
    names = [name for name, _ in tweens.implicit()] if tweens is not None else []
    if not get_runtime(registry).settings.process_jobs or TM_TWEEN not in names:
        return handler

    def elasticjobs_commit_tween(request: Request) -> Response:
        try:
            response = handler(request)
        except Exception as error:
            outcome = request.environ.pop(OUTCOME_KEY, None)
            if outcome is not None:
                outcome.commit_failed(error)
            raise
        outcome = request.environ.pop(OUTCOME_KEY, None)
        if outcome is not None:
            outcome.committed()
        return response

    return elasticjobs_commit_tween
