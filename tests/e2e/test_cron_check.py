"""cron.yaml against the application: each entry that would fail is named, with its fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pyramid_elasticjobs import ConfigurationError
from pyramid_elasticjobs.daemon.cron import parse_cron
from pyramid_elasticjobs.daemon.cron_check import check_cron, read_cron
from tests.support import REGION, SECRET

from . import app as e2e_app


def _cron(*entries: tuple[str, str]) -> str:
    lines = ["version: 1", "cron:"]
    for name, url in entries:
        lines += [f'  - name: "{name}"', f'    url: "{url}"', '    schedule: "*/5 * * * *"']
    return "\n".join(lines) + "\n"


@pytest.fixture
def registry() -> Any:
    """The registry of the end-to-end test app: jobs work, elsewhere and tick (periodic)."""
    app = e2e_app.main(
        {},
        **{
            "elasticjobs.secret": SECRET,
            "elasticjobs.aws_region": REGION,
            "elasticjobs.periodic_tasks_route": "/cron",
        },
    )
    return app.registry


def test_a_periodic_job_at_the_periodic_route_has_no_problem(registry: Any) -> None:
    """The one way an entry works: a @job(periodic=True) name, the route as url."""
    assert check_cron(parse_cron(_cron(("tick", "/cron"))), registry) == []


def test_a_name_that_is_no_job_suggests_the_closest_job(registry: Any) -> None:
    """A typo'd name would fail every run with 'unknown job' into the dead-letter queue."""
    [problem] = check_cron(parse_cron(_cron(("tik", "/cron"))), registry, "cron.yaml")

    assert problem.startswith("cron.yaml: entry 'tik': no job is named 'tik'")
    assert "did you mean 'tick'?" in problem


def test_a_name_far_from_every_job_lists_the_registered_jobs(registry: Any) -> None:
    """With nothing close, the message lists what exists."""
    [problem] = check_cron(parse_cron(_cron(("nightly_report", "/cron"))), registry)

    assert "registered jobs: 'elsewhere', 'tick', 'work'" in problem


def test_a_job_not_declared_periodic_is_named_with_the_declaration_to_add(registry: Any) -> None:
    """The worker refuses to start it from an unsigned periodic request."""
    [problem] = check_cron(parse_cron(_cron(("work", "/cron"))), registry)

    assert "entry 'work': job 'work' is not declared periodic" in problem
    assert "@job(periodic=True)" in problem


def test_a_url_other_than_the_periodic_route_is_named_with_both_fixes(registry: Any) -> None:
    """The app would answer 404, which the daemon retries until the dead-letter queue."""
    [problem] = check_cron(parse_cron(_cron(("tick", "/periodic_tasks"))), registry)

    assert "entry 'tick': url '/periodic_tasks' is not the periodic-task route '/cron'" in problem
    assert "'url: /cron'" in problem
    assert "elasticjobs.periodic_tasks_route = /periodic_tasks" in problem


def test_every_problem_of_every_entry_is_listed_in_file_order(registry: Any) -> None:
    """One line per problem, so that one start-up shows all of them."""
    tasks = parse_cron(_cron(("tick", "/cron"), ("work", "/x"), ("nope", "/cron")))

    problems = check_cron(tasks, registry)

    assert [problem.split(": ")[1] for problem in problems] == [
        "entry 'work'",
        "entry 'work'",
        "entry 'nope'",
    ]


def test_an_unreadable_file_names_where_its_path_came_from(tmp_path: Path) -> None:
    """The message names the setting to fix, not an option of another command."""
    with pytest.raises(ConfigurationError, match=r"fix elasticjobs\.sqsd\.cron_path"):
        read_cron(tmp_path / "missing.yaml", "elasticjobs.sqsd.cron_path")
