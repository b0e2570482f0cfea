"""Daemon options from code, ini settings, the environment and the command line."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import pytest

from pyramid_elasticjobs.daemon.options import DaemonOptions, options_from_settings
from pyramid_elasticjobs.exceptions import ConfigurationError

APP_SETTINGS = {
    "elasticjobs.aws_region": "eu-west-1",
    "elasticjobs.endpoint_url": "http://127.0.0.1:5000",
    "elasticjobs.queue_prefix": "myapp-",
    "elasticjobs.default_queue": "jobs",
}


def test_defaults_are_those_of_aws_sqsd() -> None:
    """HttpConnections 50, ConnectTimeout 5, VisibilityTimeout 300, ErrorVisibilityTimeout 2..."""
    options = DaemonOptions(queue="jobs", region="us-east-1")

    assert (options.http_connections, options.connect_timeout, options.inactivity_timeout) == (
        50,
        5.0,
        299.0,
    )
    assert (options.visibility_timeout, options.error_visibility_timeout) == (300, 2)
    assert (options.max_retries, options.http_path, options.mime_type) == (
        10,
        "/",
        "application/json",
    )
    assert options.user_agent.startswith("aws-sqsd/")


def test_the_queue_and_connection_come_from_the_application_settings() -> None:
    """Without sqsd keys: prefix + default queue, the app's region and endpoint."""
    options = options_from_settings(APP_SETTINGS)

    assert (options.queue, options.region, options.endpoint_url) == (
        "myapp-jobs",
        "eu-west-1",
        "http://127.0.0.1:5000",
    )


def test_the_application_default_queue_is_named_default() -> None:
    """As in the app: no elasticjobs.default_queue means the queue called 'default'."""
    options = options_from_settings({"elasticjobs.aws_region": "eu-west-1"})

    assert options.queue == "default"


def test_sqsd_settings_are_read_and_converted() -> None:
    """elasticjobs.sqsd.<option> keys win over the app's keys and become typed values."""
    settings = {
        **APP_SETTINGS,
        "elasticjobs.sqsd.queue": "other",
        "elasticjobs.sqsd.region": "us-west-2",
        "elasticjobs.sqsd.http_connections": " 7 ",
        "elasticjobs.sqsd.connect_timeout": "1.5",
        "elasticjobs.sqsd.cron_path": "/srv/app/cron.yaml",
    }

    options = options_from_settings(settings)

    assert (options.queue, options.region) == ("other", "us-west-2")
    assert (options.http_connections, options.connect_timeout) == (7, 1.5)
    assert options.cron_path == "/srv/app/cron.yaml"


def test_command_line_values_win_and_unset_ones_are_ignored() -> None:
    """Overrides replace settings; None (a flag not given) leaves the setting alone."""
    settings = {**APP_SETTINGS, "elasticjobs.sqsd.http_connections": "7"}

    options = options_from_settings(
        settings, {"http_connections": "3", "queue": None, "worker_url": "http://127.0.0.1:6543"}
    )

    assert (options.http_connections, options.queue, options.worker_url) == (
        3,
        "myapp-jobs",
        "http://127.0.0.1:6543",
    )


def test_the_environment_names_the_region_and_endpoint_as_for_the_app() -> None:
    """AWS_REGION and ELASTICJOBS_ENDPOINT_URL win over the app's ini keys, as in the app."""
    environ = {"AWS_REGION": "ap-south-1", "ELASTICJOBS_ENDPOINT_URL": "http://127.0.0.1:9324"}

    options = options_from_settings(APP_SETTINGS, environ=environ)

    assert (options.region, options.endpoint_url) == ("ap-south-1", "http://127.0.0.1:9324")


@pytest.mark.parametrize(
    ("settings", "missing"),
    [
        ({"elasticjobs.sqsd.region": "us-east-1"}, "--queue or elasticjobs.sqsd.queue"),
        ({"elasticjobs.sqsd.queue": "jobs"}, "--region or elasticjobs.sqsd.region"),
    ],
)
def test_a_missing_queue_or_region_says_how_to_give_it(
    settings: dict[str, str], missing: str
) -> None:
    """The error names the option's flag and its ini key."""
    with pytest.raises(ConfigurationError, match="is not set") as raised:
        options_from_settings(settings)

    assert str(raised.value).startswith(missing)


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("http_connections", "0", "= 0 is out of range; give 1 to 100"),
        ("http_connections", "101", "= 101 is out of range; give 1 to 100"),
        ("http_connections", "many", "= 'many' is not a whole number; give a value from 1 to 100"),
        ("connect_timeout", "0", "= 0.0 is out of range; give 0.1 to 60"),
        ("inactivity_timeout", "soon", "= 'soon' is not a number; give a value from 0.1 to 36000"),
        ("visibility_timeout", "43201", "out of range; give 0 to 43200"),
        ("error_visibility_timeout", "-1", "out of range; give 0 to 43200"),
        ("max_retries", "0", "out of range; give 1 to 100"),
        ("wait_time_seconds", "21", "out of range; give 0 to 20"),
        ("summary_interval", "-5", "out of range; give 0 to 86400"),
        ("queue", "bad name!", "is not a valid queue name"),
        ("queue", "http://127.0.0.1:5000/", "is not a queue URL"),
        ("region", "Mars", "is not an AWS region name"),
        ("endpoint_url", "127.0.0.1:5000", "is not an http(s) URL"),
        ("worker_url", "https://127.0.0.1:443", "is not http://host:port"),
        ("worker_url", "http://127.0.0.1:8080/jobs", "put the path in http_path"),
        ("worker_url", "http://127.0.0.1:99999", "has an invalid port"),
        ("http_path", "jobs", "is not a URL path"),
        ("mime_type", "json", "is not a MIME type"),
        ("user_agent", "aws-sqsd/3\r\nX-Evil: 1", "cannot be sent as an HTTP header"),
    ],
)
def test_a_bad_value_is_refused_naming_the_option_and_what_it_accepts(
    option: str, value: str, expected: str
) -> None:
    """ConfigurationError: flag and ini key, the value, and the accepted range or form."""
    settings = {"elasticjobs.sqsd.queue": "jobs", "elasticjobs.sqsd.region": "us-east-1"}

    with pytest.raises(ConfigurationError) as raised:
        options_from_settings(settings, {option: value})

    flag = "--" + option.replace("_", "-")
    assert str(raised.value).startswith(f"{flag} or elasticjobs.sqsd.{option} = ")
    assert expected in str(raised.value)


def test_options_built_in_code_are_checked_too() -> None:
    """The dataclass validates itself, so `elasticjobs dev` gets the same errors."""
    with pytest.raises(ConfigurationError, match="out of range; give 1 to 100"):
        DaemonOptions(queue="jobs", region="us-east-1", http_connections=0)


def test_an_unknown_sqsd_key_is_logged_with_the_likely_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A typo in an elasticjobs.sqsd.* key is a warning naming the key it resembles."""
    settings = {**APP_SETTINGS, "elasticjobs.sqsd.http_conections": "3"}

    with caplog.at_level(logging.WARNING, logger="pyramid_elasticjobs.daemon"):
        options = options_from_settings(settings)

    assert options.http_connections == 50
    assert [record.getMessage() for record in caplog.records] == [
        "unknown setting elasticjobs.sqsd.http_conections is ignored; "
        "did you mean elasticjobs.sqsd.http_connections?"
    ]


@pytest.mark.parametrize(
    ("queue", "name", "fifo"),
    [
        ("jobs", "jobs", False),
        ("http://127.0.0.1:5000/123456789012/myapp-jobs", "myapp-jobs", False),
        ("https://sqs.eu-west-1.amazonaws.com/123456789012/orders.fifo", "orders.fifo", True),
    ],
)
def test_the_queue_name_is_read_from_a_name_or_a_url(queue: str, name: str, fifo: bool) -> None:
    """X-Aws-Sqsd-Queue carries the name, also when the queue is given by URL."""
    options = DaemonOptions(queue=queue, region="us-east-1")

    assert (options.queue_name, options.is_fifo) == (name, fifo)


def test_every_option_has_an_ini_key() -> None:
    """Each field of DaemonOptions can be set as elasticjobs.sqsd.<field>."""
    values: dict[str, Any] = {
        "queue": "jobs",
        "region": "us-east-1",
        "endpoint_url": "http://127.0.0.1:1",
        "worker_url": "http://127.0.0.1:2",
        "http_path": "/p",
        "mime_type": "text/plain",
        "http_connections": 2,
        "connect_timeout": 2.5,
        "inactivity_timeout": 3.5,
        "visibility_timeout": 4,
        "error_visibility_timeout": 5,
        "max_retries": 6,
        "cron_path": "cron.yaml",
        "wait_time_seconds": 7,
        "summary_interval": 8.5,
        "user_agent": "sqsd/1",
    }
    assert set(values) == {field.name for field in dataclasses.fields(DaemonOptions)}

    options = options_from_settings(
        {f"elasticjobs.sqsd.{name}": str(value) for name, value in values.items()}
    )

    assert dataclasses.asdict(options) == values


def test_a_bad_region_from_the_environment_names_the_application_key_and_variable() -> None:
    """Checked as the application checks it: the error says where the bad value came from."""
    with pytest.raises(ConfigurationError) as raised:
        options_from_settings({"elasticjobs.sqsd.queue": "jobs"}, environ={"AWS_REGION": "Mars"})

    assert str(raised.value).startswith(
        "elasticjobs.aws_region (or the AWS_REGION environment variable) = 'Mars' is not an "
        "AWS region name"
    )


def test_numbers_given_as_text_in_code_are_converted() -> None:
    """DaemonOptions types its numbers itself, whoever builds it."""
    options = DaemonOptions(queue="jobs", region="us-east-1", http_connections=" 7 ")  # type: ignore[arg-type]

    assert (options.http_connections, options.connect_timeout) == (7, 5.0)
    assert isinstance(options.connect_timeout, float)
