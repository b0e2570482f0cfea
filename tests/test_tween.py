"""The worker tween factory, called directly with a dummy handler (as pyramid_tm tests its own)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response

from pyramid_elasticjobs.protocol import ORIGIN, ORIGIN_ATTRIBUTE
from pyramid_elasticjobs.worker import worker_tween_factory

from .support import REGION, SECRET


class DummyHandler:
    """The rest of the app: records the requests it is given."""

    def __init__(self) -> None:
        self.requests: list[Request] = []

    def __call__(self, request: Request) -> Response:
        self.requests.append(request)
        return Response("app")


def _registry(**settings: str) -> Any:
    config = Configurator(
        settings={
            "elasticjobs.secret": SECRET,
            "elasticjobs.aws_region": REGION,
            "elasticjobs.process_jobs": "true",
            **settings,
        }
    )
    config.include("pyramid_elasticjobs")
    config.commit()
    return config.registry


def _request(**headers: str) -> Request:
    request = Request.blank("/", method="POST", headers=headers, POST=b"{}")
    request.environ["REMOTE_ADDR"] = "127.0.0.1"
    return request


DAEMON = {"User-Agent": "aws-sqsd/3.0.3"}
OURS = {**DAEMON, f"X-Aws-Sqsd-Attr-{ORIGIN_ATTRIBUTE}": ORIGIN}


def test_processing_off_returns_the_handler_itself() -> None:
    """With process_jobs off the factory adds no layer at all: the handler comes back."""
    handler = DummyHandler()
    assert (
        worker_tween_factory(handler, _registry(**{"elasticjobs.process_jobs": "false"})) is handler
    )


@pytest.mark.parametrize(
    "headers",
    [{}, {"User-Agent": "curl/8"}, DAEMON],
    ids=["browser", "curl", "daemon, another consumer's message"],
)
def test_requests_not_for_the_worker_reach_the_handler(headers: dict[str, str]) -> None:
    """Anything but our own signed messages and periodic tasks goes to the app untouched."""
    handler = DummyHandler()
    tween = worker_tween_factory(handler, _registry())
    request = _request(**headers)
    assert tween(request).text == "app"
    assert handler.requests == [request]


@pytest.mark.parametrize(
    ("make_request", "status", "outcome"),
    [
        (lambda: _request(**OURS), 403, "invalid_signature"),
        (lambda: _request(**OURS, **{"X-Forwarded-For": "203.0.113.9"}), 403, "untrusted_source"),
        (lambda: Request.blank("/", headers=OURS, environ={"REMOTE_ADDR": "127.0.0.1"}), 405, None),
        (
            lambda: Request.blank(
                "/periodic_tasks",
                method="POST",
                headers=DAEMON,
                environ={"REMOTE_ADDR": "127.0.0.1"},
            ),
            400,
            "missing_task_name",
        ),
    ],
    ids=["unsigned message", "untrusted source", "GET", "periodic without a name"],
)
def test_the_worker_answers_for_itself(
    make_request: Callable[[], Request], status: int, outcome: str | None
) -> None:
    """Our messages and periodic tasks are answered by the worker; the handler never sees them."""
    handler = DummyHandler()
    response = worker_tween_factory(handler, _registry())(make_request())
    assert response.status_code == status
    assert response.json["status"] == (outcome or "method_not_allowed")
    assert handler.requests == []
