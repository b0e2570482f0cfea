"""Operations on dead-letter queues: find, sample, redrive, edit, delete, purge, move tasks.

The one place the dashboard and the ``elasticjobs dlq`` commands reach dead-letter
queues through. It never browses a live queue (receiving counts against the redrive
policy), releases whatever it received and did not act on, and redrives by
send-then-delete, so a crash can duplicate a message but never lose one::

    service = DeadLetters(request.registry, recorder=audit_store)
    queue = service.dead_letter_queue("images")
    taken = service.sample(queue, 20)
    service.redrive(queue, [taken.letters[0].message_id], actor="alice")
"""

from __future__ import annotations

from .decoding import DeadLetter, Verdict
from .errors import (
    DeadLetterError,
    DeadLetterNotFound,
    DeadLetterSQSError,
    MoveTaskError,
    MoveTaskUnsupported,
    NotADeadLetterQueue,
    NotRedrivable,
    PurgeNotConfirmed,
)
from .movetasks import MoveTask, MoveTaskStatus
from .queues import DeadLetterQueue, JobQueue, OldestDeadLetter, QueueAttributes, QueueRef
from .recorder import Action, NullRecorder, Recorder
from .redrive import Match, NotRedriven, Progress, Redriven, RedriveResult, Throttle
from .sampling import Sample
from .service import DeadLetters, Edited, QueueRedrive

__all__ = [
    "Action",
    "DeadLetter",
    "DeadLetterError",
    "DeadLetterNotFound",
    "DeadLetterQueue",
    "DeadLetterSQSError",
    "DeadLetters",
    "Edited",
    "JobQueue",
    "Match",
    "MoveTask",
    "MoveTaskError",
    "MoveTaskStatus",
    "MoveTaskUnsupported",
    "NotADeadLetterQueue",
    "NotRedrivable",
    "NotRedriven",
    "NullRecorder",
    "OldestDeadLetter",
    "Progress",
    "PurgeNotConfirmed",
    "QueueAttributes",
    "QueueRedrive",
    "QueueRef",
    "Recorder",
    "RedriveResult",
    "Redriven",
    "Sample",
    "Throttle",
    "Verdict",
]
