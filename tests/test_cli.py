"""What every ``elasticjobs`` command shares: help, and one-line errors for a missing ini file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pyramid_elasticjobs.cli import main

#: Each command that reads an application's ini file, with the arguments it needs besides.
COMMANDS_WITH_AN_INI = [
    ["doctor"],
    ["jobs"],
    ["cron", "check"],
    ["enqueue", "{ini}", "noop", "--args", "{}"],
    ["dlq", "list"],
    ["db", "current"],
]


@pytest.mark.parametrize("command", COMMANDS_WITH_AN_INI, ids=lambda words: " ".join(words[:2]))
def test_a_missing_ini_file_is_a_one_line_error_with_status_2(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No traceback: the command names the file it could not find and exits 2."""
    missing = str(tmp_path / "nope.ini")
    words = [word.replace("{ini}", missing) for word in command]
    if "{ini}" not in " ".join(command):
        words.append(missing)
    assert main(words) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "nope.ini" in err
    assert "Traceback" not in err


# A command waiting for its stop while another thread takes the signal (the kernel may
# deliver SIGINT/SIGTERM to any thread of the process).
SIGNAL_ON_ANOTHER_THREAD = """
import signal, sys, threading
from pyramid_elasticjobs.cli.signals import run_until_signalled, wait_for_stop

def serve(stop_requested):
    def signal_this_thread():
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)
    threading.Timer(0.5, signal_this_thread).start()
    wait_for_stop(stop_requested)
    print("stopped")
    return 0

sys.exit(run_until_signalled("test", serve))
"""


def test_a_signal_taken_by_another_thread_still_stops_the_command() -> None:
    """The main thread wakes to run the handler: the stop is not lost in an endless wait."""
    result = subprocess.run(
        [sys.executable, "-c", SIGNAL_ON_ANOTHER_THREAD],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "stopped"
    assert "stopping gracefully" in result.stderr
