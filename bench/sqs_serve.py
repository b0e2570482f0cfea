"""``python -m bench.sqs_serve``: the local stack's SQS (moto, sped up) in a process of its own.

The server ``elasticjobs dev`` embeds: moto's SQS behind the middleware that
serialises its calls, on a free loopback port. Run apart from the benchmark so
its CPU time can be told from the daemon's. Prints ``PORT <n>`` once listening.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading

from pyramid_elasticjobs.devstack import moto_speedups
from pyramid_elasticjobs.devstack.embedded_sqs import EmbeddedSQS

from .common import use_fake_aws


def main() -> int:
    use_fake_aws()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    moto_speedups.apply()
    server = EmbeddedSQS("127.0.0.1", 0)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stopped.set())
    print(f"PORT {server.address[1]}", flush=True)
    stopped.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
