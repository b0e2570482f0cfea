"""Named defaults and limits of the core, in one place (the daemon keeps its own)."""

from __future__ import annotations

from datetime import timedelta

#: Shortest secret accepted for HMAC signing.
MIN_SECRET_LENGTH = 32

#: SQS accepts messages of at most 1 MiB (service maximum since 2025) and at least 1 KiB
#: as a queue's MaximumMessageSize; 256 KiB was the limit for years, and is still the
#: default of many queues.
SQS_MAX_MESSAGE_BYTES = 1_048_576
SQS_MIN_MESSAGE_BYTES = 1_024
MAX_MESSAGE_BYTES = 262_144

#: SQS's ceiling for DelaySeconds on standard queues.
MAX_DELAY_SECONDS = 900
#: SendMessageBatch takes at most this many entries.
MAX_BATCH_ENTRIES = 10

#: How far ahead a job may be scheduled: each 15 minutes beyond SQS's own delay costs a
#: re-send, and a date beyond this is almost always a unit mistake (ms for s).
MAX_SCHEDULE_AHEAD = timedelta(days=365)

#: A message expires this long after it is due. SQS keeps a message at most 14 days, so a
#: genuine message is never older; an older one is a replay.
MESSAGE_TTL_SECONDS = 14 * 24 * 3600
MIN_MESSAGE_TTL_SECONDS = 60
MAX_MESSAGE_TTL_SECONDS = 366 * 24 * 3600

#: A message this close to its run_at runs now: re-sending would only add latency.
RUN_AT_TOLERANCE_SECONDS = 1.0

#: Early messages this worker process has re-sent, remembered so that a replay of one is
#: not re-sent again; bounded so forged traffic cannot grow it.
RESENT_MEMORY = 100_000

LOOPBACK_NETWORKS = "127.0.0.0/8 ::1/128"
DEFAULT_QUEUE = "default"
PERIODIC_TASKS_ROUTE = "/periodic_tasks"
DEAD_LETTER_SUFFIX = "-dead-letters"
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0
MAX_ATTEMPTS = 3
MAX_RECEIVE_COUNT = 10
