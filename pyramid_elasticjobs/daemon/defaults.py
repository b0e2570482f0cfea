"""Named defaults and limits of the local daemon, in one place (the core keeps its own).

The option defaults are aws-sqsd's (``aws:elasticbeanstalk:sqsd``), so an application
behaves locally as it will on Elastic Beanstalk.
"""

from __future__ import annotations

from collections.abc import Mapping

# -- options (aws-sqsd's defaults) -------------------------------------------------------

WORKER_URL = "http://127.0.0.1:80"
HTTP_PATH = "/"
MIME_TYPE = "application/json"
USER_AGENT = "aws-sqsd/3.0.4"
HTTP_CONNECTIONS = 50
CONNECT_TIMEOUT = 5.0
#: The Elastic Beanstalk docs give 180 s on one page and 299 s on another; 299 s keeps
#: it just under the visibility timeout, as it must be.
INACTIVITY_TIMEOUT = 299.0
VISIBILITY_TIMEOUT = 300
ERROR_VISIBILITY_TIMEOUT = 2
MAX_RETRIES = 10
#: The longest long poll SQS allows: fewest calls when the queue is idle.
WAIT_TIME_SECONDS = 20
SUMMARY_INTERVAL = 60.0

#: Numeric options: (low, high) as aws-sqsd accepts them, where it documents a range.
RANGES: Mapping[str, tuple[int, int] | tuple[float, float]] = {
    "http_connections": (1, 100),
    "connect_timeout": (0.1, 60),
    "inactivity_timeout": (0.1, 36000),
    "visibility_timeout": (0, 43200),
    "error_visibility_timeout": (0, 43200),
    "max_retries": (1, 100),
    "wait_time_seconds": (0, 20),
    "summary_interval": (0, 86400),
}

# -- SQS calls ---------------------------------------------------------------------------

#: A ReceiveMessage may take the whole long poll; SQS gets this much longer to answer
#: before the call counts as hung.
SQS_READ_MARGIN_SECONDS = 5.0
#: Read timeout of every other SQS call (deletes, visibility changes, sends).
SQS_CALL_READ_TIMEOUT = 10.0
#: botocore attempts per call (its own quick retries, before the daemon's slower ones).
SQS_MAX_ATTEMPTS = 3
#: An SQS call slower than this is logged: deletes that lag keep jobs hidden longer.
SLOW_SQS_CALL_SECONDS = 5.0
#: Pauses between failed ReceiveMessage calls (the last one repeats).
RECEIVE_BACKOFF_SECONDS = (1.0, 2.0, 5.0, 10.0)
#: Pauses between attempts to delete (or change the visibility of) a message while SQS
#: fails; the last one repeats until the message's visibility timeout would end.
ACK_BACKOFF_SECONDS = (0.5, 1.0, 2.0, 5.0, 10.0)
#: A delete is not tried this close to the end of the message's visibility timeout:
#: SQS may already have handed the message to another consumer.
ACK_EXPIRY_MARGIN_SECONDS = 1.0

# -- stopping ----------------------------------------------------------------------------

#: After stop's wait for running requests, how long the deletes still get to reach SQS.
ACK_DRAIN_SECONDS = 10.0
