"""``python -m bench.serve APP``: serve one benchmark app with waitress on a free loopback port.

Prints ``PORT <n>`` once listening, so the parent knows where to point wrk.
"""

from __future__ import annotations

import argparse
import logging
import sys

import waitress

from .apps import APPS
from .common import use_fake_aws

THREADS = 8


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.serve", description=__doc__)
    parser.add_argument("app", choices=sorted(APPS))
    parser.add_argument("--threads", type=int, default=THREADS, help=f"default {THREADS}")
    args = parser.parse_args(argv)
    use_fake_aws()
    # Under load waitress warns about its task queue depth on every burst; that is expected here.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    server = waitress.create_server(
        APPS[args.app](), host="127.0.0.1", port=0, threads=args.threads
    )
    print(f"PORT {server.effective_port}", flush=True)
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
