"""Bad input to enqueue raises this library's own error naming the field or the option.

Never a TypeError, ValueError, OverflowError or UnicodeEncodeError from deep inside, and
never a secret in what a traceback shows.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from marshmallow import Schema, fields
from pyramid.config import Configurator
from webtest import TestApp

from pyramid_elasticjobs import (
    ConfigurationError,
    ElasticJobsError,
    InvalidDelay,
    InvalidEnqueueOption,
    InvalidJobArguments,
    MessageTooLarge,
    get_client,
)
from pyramid_elasticjobs.envelope import encode_json

from .support import SECRET, closed_port_url, queue_depths


class Anything(Schema):
    value = fields.Raw(required=True, allow_none=True)


class Number(Schema):
    n = fields.Int(required=True)


def with_raw_jobs(config: Configurator) -> None:
    config.add_job(lambda ctx, value: None, schema=Anything, name="anything")
    config.add_job(lambda ctx, n: None, schema=Number, name="number")


@pytest.fixture
def raw_app(make_app: Callable[..., Any], make_queue: Callable[..., str]) -> Any:
    make_queue("default")
    return make_app(with_raw_jobs)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (datetime(2026, 12, 2, tzinfo=UTC), "cannot be sent as JSON"),
        (b"bytes", "cannot be sent as JSON"),
        ({1, 2}, "cannot be sent as JSON"),
        (Decimal("1.5"), "cannot be sent as JSON"),
        (float("nan"), "Out of range float values are not JSON compliant"),
        (float("inf"), "Out of range float values are not JSON compliant"),
        (10**5000, "Exceeds the limit"),
        ("\ud800", "lone surrogate"),
        ({"nested": [object()]}, "cannot be sent as JSON"),
    ],
    ids=[
        "datetime",
        "bytes",
        "set",
        "Decimal",
        "nan",
        "inf",
        "5000-digit int",
        "surrogate",
        "object",
    ],
)
def test_values_json_cannot_carry_raise_invalid_arguments_naming_the_field(
    raw_app: Any, sqs: Any, make_queue: Any, value: Any, problem: str
) -> None:
    """A Raw field holding a value JSON cannot carry: InvalidJobArguments for that field."""
    with pytest.raises(InvalidJobArguments) as raised:
        get_client(raw_app.registry).enqueue("anything", value=value)
    assert list(raised.value.errors) == ["value"]
    assert problem in str(raised.value)
    assert queue_depths(sqs, make_queue("default")) == (0, 0)


def test_huge_int_in_an_int_field_is_invalid_arguments(raw_app: Any) -> None:
    """An Int field given a 5,000-digit number names the field instead of a ValueError."""
    with pytest.raises(InvalidJobArguments, match="n: "):
        get_client(raw_app.registry).enqueue("number", n=10**5000)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"delay": "ten"}, InvalidDelay, "delay='ten' is not a number of seconds"),
        ({"delay": "10"}, InvalidDelay, "delay='10' is not a number of seconds"),
        ({"delay": True}, InvalidDelay, "delay=True is not a number of seconds"),
        (
            {"delay": None, "run_at": "tomorrow"},
            InvalidDelay,
            "run_at='tomorrow' is not a datetime",
        ),
        ({"delay": 1e20}, InvalidDelay, "more than 365 days ahead"),
        ({"delay": -1}, InvalidDelay, "not a non-negative number"),
        ({"delay": float("nan")}, InvalidDelay, "not a non-negative number"),
        ({"delay": timedelta(days=400)}, InvalidDelay, "more than 365 days ahead"),
        ({"run_at": datetime.max.replace(tzinfo=UTC)}, InvalidDelay, "more than 365 days ahead"),
        ({"run_at": datetime(2030, 1, 1)}, InvalidDelay, "has no time zone"),
        ({"delay": 5, "run_at": datetime.now(UTC)}, InvalidDelay, "either delay or run_at"),
        ({"group_id": 7}, InvalidEnqueueOption, "group_id=7 is not an SQS id"),
        (
            {"group_id": "with space"},
            InvalidEnqueueOption,
            "group_id='with space' is not an SQS id",
        ),
        ({"group_id": "x" * 129}, InvalidEnqueueOption, "is not an SQS id"),
    ],
    ids=repr,
)
def test_bad_enqueue_options_raise_an_error_naming_the_option(
    raw_app: Any, options: dict[str, Any], error: type[Exception], message: str
) -> None:
    """Delays, run_at and ids of the wrong type or range: an InvalidEnqueueOption naming it."""
    with pytest.raises(error) as raised:
        get_client(raw_app.registry).enqueue("number", n=1, **options)
    assert message in str(raised.value)


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
_ANY_VALUES = (
    _JSON_VALUES
    | st.datetimes()
    | st.binary(max_size=8)
    | st.decimals()
    | st.sets(st.integers(), max_size=3)
    | st.integers(min_value=10**4300, max_value=10**4400)
    | st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1)
)
_DELAYS = (
    st.none()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats()
    | st.text(max_size=4)
    | st.booleans()
    | st.timedeltas()
)


@hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=_ANY_VALUES, delay=_DELAYS)
def test_enqueue_succeeds_exactly_for_valid_input_and_raises_only_its_own_errors(
    raw_app: Any, value: Any, delay: Any
) -> None:
    """Valid JSON values with a valid delay are sent; anything else is an ElasticJobsError."""
    client = get_client(raw_app.registry)
    try:
        enqueued = client.enqueue("anything", value=value, delay=delay)
    except ElasticJobsError:
        assert not (_json_ok(value) and _delay_ok(delay))
    else:
        assert _json_ok(value)
        assert _delay_ok(delay)
        assert enqueued.message_id


def _json_ok(value: Any) -> bool:
    try:
        encode_json(value)
    except (TypeError, ValueError):
        return False
    return True


def _delay_ok(delay: Any) -> bool:
    if delay is None:
        return True
    if isinstance(delay, timedelta):
        seconds = delay.total_seconds()
    elif isinstance(delay, int | float) and not isinstance(delay, bool):
        seconds = float(delay)
    else:
        return False
    return math.isfinite(seconds) and 0 <= seconds <= 365 * 24 * 3600


def test_enqueue_many_of_nothing_in_a_transaction_is_a_no_op(
    make_app: Callable[..., Any], make_queue: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """enqueue_many(job, []) inside pyramid_tm returns [] and logs no error after commit."""
    make_queue("default")
    results: list[Any] = []

    def view(request: Any) -> dict[str, int]:
        results.append(request.elasticjobs.enqueue_many("noop", []))
        return {}

    def configure(config: Configurator) -> None:
        config.include("pyramid_tm")
        config.add_route("many", "/many")
        config.add_view(view, route_name="many", renderer="json")

    TestApp(make_app(configure)).get("/many", status=200)
    assert results == [[]]
    assert [r for r in caplog.records if r.levelname == "ERROR"] == []


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda client: client.enqueue("number", n="x"), InvalidJobArguments),
        (lambda client: client.enqueue("anything", value="x" * 300_000), MessageTooLarge),
    ],
    ids=["InvalidJobArguments", "MessageTooLarge"],
)
def test_tracebacks_with_locals_carry_no_secret(
    raw_app: Any, call: Callable[[Any], Any], error: type[Exception]
) -> None:
    """Sentry-style tracebacks (every frame's locals) of ordinary errors never show the secret."""
    with pytest.raises(error) as raised:
        call(get_client(raw_app.registry))
    text = "".join(
        traceback.TracebackException.from_exception(raised.value, capture_locals=True).format()
    )
    assert "runtime = Runtime(" in text or "self = " in text  # locals were captured
    assert SECRET not in text


def test_port_zero_endpoint_outside_the_dev_stack_says_what_to_do(
    make_app: Callable[..., Any],
) -> None:
    """endpoint_url with port 0 only means something to `elasticjobs dev`: say so on send."""
    app = make_app(**{"elasticjobs.endpoint_url": "http://127.0.0.1:0"})
    with pytest.raises(ConfigurationError, match="only `elasticjobs dev INI` starts"):
        get_client(app.registry).enqueue("noop")


def test_unreachable_sqs_is_an_enqueue_error(make_app: Callable[..., Any]) -> None:
    """Connection refused: EnqueueError saying the job was not enqueued, no botocore error."""
    app = make_app(**{"elasticjobs.endpoint_url": closed_port_url()})
    with pytest.raises(ElasticJobsError, match="not enqueued"):
        get_client(app.registry).enqueue("noop")
