"""What every ``elasticjobs`` command shares: help, and one-line errors for a missing ini file."""

from __future__ import annotations

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
