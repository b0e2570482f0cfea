"""Against peers: the worker endpoints of pyramid_elasticjobs and django-eb-sqs-worker, and a floor.

Three servers side by side on this machine, each waitress with 8 threads, each loaded in turn
by wrk (10 connections) with the POST its worker endpoint expects from ``aws-sqsd``, in
alternating rounds:

- the floor: a bare Pyramid view that reads the body and decodes the JSON (``bench.apps``);
- ours: a signed no-op job, source, signature and contract checked (``bench.apps``, the
  app of (b));
- django-eb-sqs-worker from PyPI, in a minimal Django project (``django-admin startproject``
  plus the package's settings and a no-op task) created in a temporary directory at bench time
  and served from a virtual environment of its own under the system's temp directory (created,
  then reused, by this module: nothing it generates is kept in the repository).

Each side's figure is its share of the floor: requests/s over the floor's requests/s in the
same round.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .common import BenchmarkError, Goal, Result, spawned_server
from .http import CONNECTIONS, WRK_THREADS, wrk, wrk_script
from .serve import THREADS
from .stack import process_cpu
from .traffic import Replay, daemon_delivery

#: What the peer's environment installs: the peer pinned, waitress as in ours.
PEER_REQUIREMENTS = ("django-eb-sqs-worker==0.5.0", "Django>=4.2,<6", "waitress>=3.0,<3.1")
#: Where that environment lives: outside the repository, kept between runs.
PEER_VENV = Path(tempfile.gettempdir()) / "pyramid_elasticjobs-bench-peers"
#: Issue 9's goal for our share of the floor.
GOAL = Goal(0.8, at_least=True)

#: Appended to the settings ``django-admin startproject`` writes: what the package's README
#: asks for, production-like (no DEBUG), and a no-op task.
_DJANGO_SETTINGS = """

# --- added by bench/peers.py ---
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
INSTALLED_APPS += ["eb_sqs_worker"]
AWS_EB_HANDLE_SQS_TASKS = True
AWS_EB_DEFAULT_REGION = "us-east-1"
AWS_ACCESS_KEY_ID = "testing"
AWS_SECRET_ACCESS_KEY = "testing"
AWS_EB_ENABLED_TASKS = {"noop": "peersite.tasks.noop"}
"""

_DJANGO_URLS = """
from django.urls import include, path

urlpatterns = [path("worker/", include("eb_sqs_worker.urls"))]
"""

_DJANGO_TASKS = '''
def noop():
    """Does nothing, so a delivery measures only the worker's own cost."""
'''

#: Serves the project as ``bench.serve`` serves ours: waitress, a free loopback port, PORT <n>.
_DJANGO_SERVE = """
import logging
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peersite.settings")

import waitress
from django.core.wsgi import get_wsgi_application

logging.getLogger("waitress.queue").setLevel(logging.ERROR)
server = waitress.create_server(
    get_wsgi_application(), host="127.0.0.1", port=0, threads=int(sys.argv[1])
)
print(f"PORT {server.effective_port}", flush=True)
# The view prints two lines per task; where a log file would take them, not into a pipe
# nobody reads (which would block the server once full).
sys.stdout = open(os.devnull, "w")
server.run()
"""


def peer_python() -> Path:
    """The peer's interpreter, its virtual environment created and filled on first use."""
    python = PEER_VENV / "bin" / "python"
    marker = PEER_VENV / "requirements.txt"
    wanted = "\n".join(PEER_REQUIREMENTS) + "\n"
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    commands = [
        [sys.executable, "-m", "venv", "--clear", str(PEER_VENV)],
        [str(python), "-m", "pip", "install", "--quiet", *PEER_REQUIREMENTS],
    ]
    for command in commands:
        completed = subprocess.run(  # noqa: S603 - fixed arguments
            command, capture_output=True, text=True, check=False
        )
        if completed.returncode != 0:
            raise BenchmarkError(f"{' '.join(command)} failed: {completed.stderr.strip()[-2000:]}")
    marker.write_text(wanted)
    return python


def peer_versions(python: Path) -> str:
    """The versions the figures belong to, e.g. ``django-eb-sqs-worker 0.5.0, Django 5.2``."""
    script = (
        "from importlib.metadata import version as v; "
        "print(', '.join(f'{n} {v(n)}' for n in ('django-eb-sqs-worker', 'Django', 'waitress')))"
    )
    completed = subprocess.run(  # noqa: S603 - the peer's interpreter, a fixed script
        [str(python), "-c", script], capture_output=True, text=True, check=True
    )
    return completed.stdout.strip()


def make_django_project(python: Path, directory: Path) -> None:
    """``django-admin startproject peersite`` in ``directory``, wired to django-eb-sqs-worker."""
    directory.mkdir()
    subprocess.run(  # noqa: S603 - the peer's own django-admin, fixed arguments
        [str(python), "-m", "django", "startproject", "peersite", str(directory)],
        check=True,
        capture_output=True,
    )
    package = directory / "peersite"
    with (package / "settings.py").open("a") as settings:
        settings.write(_DJANGO_SETTINGS)
    (package / "urls.py").write_text(textwrap.dedent(_DJANGO_URLS).lstrip())
    (package / "tasks.py").write_text(textwrap.dedent(_DJANGO_TASKS).lstrip())
    (directory / "serve.py").write_text(textwrap.dedent(_DJANGO_SERVE).lstrip())


@contextmanager
def serving_django(python: Path, directory: Path) -> Iterator[tuple[str, int]]:
    """The Django project under waitress (``THREADS`` threads): yield (worker URL, pid)."""
    environment = {**os.environ, "PYTHONPATH": str(directory)}
    process = subprocess.Popen(  # noqa: S603 - the peer's interpreter, our generated script
        [str(python), "serve.py", str(THREADS)],
        cwd=directory,
        env=environment,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        if not line.startswith("PORT "):
            raise BenchmarkError(f"the Django project did not start (said {line!r})")
        yield f"http://127.0.0.1:{int(line.split()[1])}/worker/sqs/", process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


def django_delivery(ours: Replay) -> Replay:
    """The daemon's POST of django-eb-sqs-worker's message for the no-op task.

    The same daemon headers as ours, less our message attributes (its messages carry none).
    """
    headers = {
        name: value
        for name, value in ours.headers.items()
        if not name.lower().startswith("x-aws-sqsd-attr-")
    }
    body = json.dumps({"task": "noop", "arguments": {}}).encode()
    return Replay("POST", "/worker/sqs/", headers, body)


def measure(rounds: int, seconds: int) -> list[Result]:
    """Requests/s of the three endpoints in alternating rounds; each side's share of the floor."""
    python = peer_python()
    versions = peer_versions(python)
    ours_replay = daemon_delivery()
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as scratch:
        directory = Path(scratch)
        make_django_project(python, directory / "project")
        scripts = {"floor": directory / "floor.lua", "ours": directory / "ours.lua"}
        scripts["django"] = directory / "django.lua"
        scripts["floor"].write_text(wrk_script(ours_replay))
        scripts["ours"].write_text(wrk_script(ours_replay))
        scripts["django"].write_text(wrk_script(django_delivery(ours_replay)))
        with (
            spawned_server("bench.serve", "bare-decode", "--threads", str(THREADS)) as floor_server,
            spawned_server("bench.serve", "with-include", "--threads", str(THREADS)) as ours_server,
            serving_django(python, directory / "project") as (django_url, django_pid),
        ):
            urls = {
                "floor": f"http://127.0.0.1:{floor_server[0]}/",
                "ours": f"http://127.0.0.1:{ours_server[0]}/",
                "django": django_url,
            }
            pids = {"floor": floor_server[1], "ours": ours_server[1], "django": django_pid}
            for side, url in urls.items():  # warm-up: imports, first requests, thread start
                wrk(url, scripts[side], 1)
            sides = list(urls)
            rates: dict[str, list[float]] = {side: [] for side in sides}
            cpu: dict[str, list[float]] = {side: [] for side in sides}
            loads: list[float] = []
            for round_number in range(rounds):
                loads.append(os.getloadavg()[0])
                # Each side goes first, second and last in turn.
                shift = round_number % len(sides)
                for side in sides[shift:] + sides[:shift]:
                    before = process_cpu(pids[side])
                    load = wrk(urls[side], scripts[side], seconds)
                    rates[side].append(load.rate)
                    cpu[side].append((process_cpu(pids[side]) - before) / load.requests)
    floor = rates["floor"]
    notes = [
        f"waitress {THREADS} threads each, wrk {WRK_THREADS} threads {CONNECTIONS} connections, "
        f"{rounds} rounds of {seconds} s per side, sides rotating; ratio = side req/s / floor "
        f"req/s of the same round",
        f"load average (1 min) at each round's start: {min(loads):.2f}-{max(loads):.2f}",
        f"peer: {versions} (python in {PEER_VENV})",
    ]
    # The server's CPU per request, the floor's over the side's: what the share would be on
    # a machine of its own, and steadier than req/s when other processes take the CPUs.
    cpu_share = {
        side: [f / s for f, s in zip(cpu["floor"], cpu[side], strict=True)]
        for side in ("ours", "django")
    }
    notes.append(
        "server CPU per request, median (floor / ours / django): "
        + " / ".join(f"{statistics.median(cpu[side]) * 1e6:,.0f} us" for side in sides)
        + "; share of the floor by CPU: ours "
        + f"{statistics.median(cpu_share['ours']):.2f} "
        + f"({min(cpu_share['ours']):.2f}-{max(cpu_share['ours']):.2f}), django "
        + f"{statistics.median(cpu_share['django']):.2f} "
        + f"({min(cpu_share['django']):.2f}-{max(cpu_share['django']):.2f})"
    )
    return [
        _share("peers-ours", "pyramid_elasticjobs", rates["ours"], floor, GOAL, notes),
        _share("peers-django", "django-eb-sqs-worker", rates["django"], floor),
    ]


def _share(
    key: str,
    name: str,
    side: list[float],
    floor: list[float],
    goal: Goal | None = None,
    notes: list[str] | None = None,
) -> Result:
    """One row: the side's median req/s against the floor's, and its per-round shares."""
    return Result(
        key,
        f"{name}: share of the floor, waitress+wrk",
        "req/s",
        statistics.median(side),
        statistics.median(floor),
        [s / f for s, f in zip(side, floor, strict=True)],
        goal,
        notes or [],
    )
