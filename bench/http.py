"""Over HTTP: each app served by waitress (8 threads) in its own process, loaded by wrk."""

from __future__ import annotations

import re
import statistics
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .common import BenchmarkError, Goal, Result, spawned_server
from .serve import THREADS
from .traffic import BROWSER_GET, Replay, daemon_delivery

CONNECTIONS = 10
WRK_THREADS = 2

#: Counts every answer that is not exactly 200 (the daemon's only success) across wrk's
#: threads, and prints one line the parent parses.
_LUA_COUNTING = """
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  -- Where this thread starts in a pool of requests (wrk_pool_script), so threads differ.
  thread:set("offset", #threads * 7919)
end

function init(args)
  non200 = 0
  bad_status = 0
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
    bad_status = status
  end
end

function done(summary, latency, requests)
  local non200_total, bad = 0, 0
  for _, thread in ipairs(threads) do
    non200_total = non200_total + thread:get("non200")
    if thread:get("bad_status") ~= 0 then bad = thread:get("bad_status") end
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d non200=%d bad_status=%d socket_errors=%d\\n",
    summary.requests, summary.duration, non200_total, bad,
    e.connect + e.read + e.write + e.timeout))
end
"""

_SUMMARY = re.compile(
    r"BENCH requests=(\d+) duration_us=(\d+) non200=(\d+) bad_status=(\d+) socket_errors=(\d+)"
)


def lua_string(value: str | bytes) -> str:
    """A Lua string literal for any bytes (decimal escapes for all but plain printable ASCII)."""
    data = value.encode() if isinstance(value, str) else value
    return (
        '"'
        + "".join(
            chr(byte) if 32 <= byte < 127 and byte not in b'"\\' else f"\\{byte:03d}"
            for byte in data
        )
        + '"'
    )


def wrk_script(replay: Replay) -> str:
    lines = [f"wrk.method = {lua_string(replay.method)}"]
    if replay.body:
        lines.append(f"wrk.body = {lua_string(replay.body)}")
    lines += [
        f"wrk.headers[{lua_string(name)}] = {lua_string(value)}"
        for name, value in replay.headers.items()
    ]
    return "\n".join(lines) + "\n" + _LUA_COUNTING


def wrk_pool_script(replays: Sequence[Replay]) -> str:
    """wrk sends ``replays`` in turn (each thread from its own offset), counting non-200s."""
    lines = ["local pool = {}"]
    for replay in replays:
        headers = ", ".join(
            f"[{lua_string(name)}] = {lua_string(value)}" for name, value in replay.headers.items()
        )
        lines.append(
            f"pool[#pool + 1] = wrk.format({lua_string(replay.method)}, {lua_string(replay.path)}, "
            f"{{{headers}}}, {lua_string(replay.body)})"
        )
    lines += [
        "local sent = 0",
        "function request()",
        "  sent = sent + 1",
        "  return pool[(sent + (offset or 0)) % #pool + 1]",
        "end",
    ]
    return "\n".join(lines) + "\n" + _LUA_COUNTING


@contextmanager
def serving(
    app: str, threads: int = THREADS, env: Mapping[str, str] | None = None
) -> Iterator[str]:
    """Run ``python -m bench.serve app`` (with ``env`` added) and yield its URL; stop it after."""
    with spawned_server("bench.serve", app, "--threads", str(threads), env=env) as (port, _):
        yield f"http://127.0.0.1:{port}/"


@dataclass(frozen=True, slots=True)
class Load:
    requests: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def wrk(
    url: str, script: Path, seconds: int, connections: int = CONNECTIONS, timeout: int = 2
) -> Load:
    """One wrk run; raises if any answer was not 200 or any socket failed (or took longer
    than ``timeout`` seconds: wrk counts that as a socket error)."""
    command = [
        "wrk",
        f"-t{min(WRK_THREADS, connections)}",  # wrk needs a connection per thread
        f"-c{connections}",
        f"-d{seconds}s",  # wrk takes whole seconds only
        f"--timeout={timeout}s",
        "-s",
        str(script),
        url,
    ]
    completed = subprocess.run(  # noqa: S603 - wrk from PATH with our own arguments
        command, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    found = _SUMMARY.search(completed.stdout)
    if completed.returncode != 0 or found is None:
        raise BenchmarkError(
            f"{' '.join(command)} failed ({completed.returncode}): "
            f"{completed.stderr.strip() or completed.stdout.strip()}; is wrk installed (apt wrk)?"
        )
    requests, duration_us, non200, bad_status, socket_errors = map(int, found.groups())
    if non200 or socket_errors:
        raise BenchmarkError(
            f"{url}: {non200} of {requests} answers were not 200 (last: {bad_status}) and "
            f"{socket_errors} socket errors; the figures would be meaningless"
        )
    return Load(requests, duration_us / 1e6)


def measure_rates(
    key: str,
    title: str,
    apps: tuple[str, str],
    replay: Replay,
    *,
    goal: Goal,
    rounds: int,
    seconds: int,
) -> Result:
    """Requests/s of both apps, alternating in rounds; the ratio is baseline / ours (a slowdown)."""
    with (
        tempfile.TemporaryDirectory() as scratch,
        serving(apps[0]) as ours_url,
        serving(apps[1]) as baseline_url,
    ):
        script = Path(scratch) / "replay.lua"
        script.write_text(wrk_script(replay))
        urls = {"ours": ours_url, "baseline": baseline_url}
        for url in urls.values():  # warm-up: imports, first requests, thread start
            wrk(url, script, 1)
        rates: dict[str, list[float]] = {"ours": [], "baseline": []}
        for round_number in range(rounds):
            order = ("ours", "baseline") if round_number % 2 == 0 else ("baseline", "ours")
            for side in order:
                rates[side].append(wrk(urls[side], script, seconds).rate)
    return Result(
        key,
        title,
        "req/s",
        statistics.median(rates["ours"]),
        statistics.median(rates["baseline"]),
        [b / o for o, b in zip(rates["ours"], rates["baseline"], strict=True)],
        goal,
        [
            f"waitress {THREADS} threads, wrk {WRK_THREADS} threads {CONNECTIONS} connections, "
            f"{rounds} rounds of {seconds} s per side; ratio = baseline req/s / ours"
        ],
    )


def measure_get(rounds: int, seconds: int) -> Result:
    return measure_rates(
        "get-http",
        "(a) GET, include vs none, waitress+wrk",
        ("with-include", "without-include"),
        BROWSER_GET,
        goal=Goal(1.03),
        rounds=rounds,
        seconds=seconds,
    )


def measure_job(rounds: int, seconds: int) -> Result:
    return measure_rates(
        "job-http",
        "(b) no-op job vs decode-only view, waitress+wrk",
        ("with-include", "bare-decode"),
        daemon_delivery(),
        goal=Goal(1.5),
        rounds=rounds,
        seconds=seconds,
    )
