"""Settings: typed, validated, overridable from the environment, loud about mistakes."""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

import pytest

from pyramid_elasticjobs.exceptions import ConfigurationError
from pyramid_elasticjobs.jobs import JobRegistry
from pyramid_elasticjobs.runtime import Runtime
from pyramid_elasticjobs.settings import parse_settings

SECRET = "s" * 32
BASE = {"elasticjobs.secret": SECRET, "elasticjobs.aws_region": "eu-west-1"}


def parse(environ: dict[str, str] | None = None, **settings: Any) -> Any:
    return parse_settings(
        {**BASE, **{f"elasticjobs.{k}": v for k, v in settings.items()}}, environ or {}
    )


def test_defaults_are_safe() -> None:
    """Processing is off, only loopback is trusted, messages are capped at 256 KiB."""
    settings = parse()
    assert settings.process_jobs is False
    assert settings.trusted_networks == (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )
    assert settings.max_message_bytes == 262_144
    assert settings.default_queue == "default"
    assert settings.periodic_tasks_route == "/periodic_tasks"
    assert settings.enqueue_after_commit is True
    assert settings.endpoint_url is None
    assert settings.remote_addr_is_client is False
    assert settings.message_ttl == 14 * 24 * 3600


def test_several_secrets_rotate_first_signs() -> None:
    """Whitespace separates secrets; their order is kept (the first one signs)."""
    settings = parse(secret=f"{'a' * 40}\n  {'b' * 33}")
    assert settings.secrets == ("a" * 40, "b" * 33)


@pytest.mark.parametrize(
    ("variable", "key", "value", "attribute", "expected"),
    [
        ("ELASTICJOBS_SECRET", "secret", "e" * 50, "secrets", ("e" * 50,)),
        ("PROCESS_ELASTIC_JOBS", "process_jobs", "true", "process_jobs", True),
        ("AWS_REGION", "aws_region", "ap-southeast-2", "aws_region", "ap-southeast-2"),
        (
            "ELASTICJOBS_ENDPOINT_URL",
            "endpoint_url",
            "http://127.0.0.1:9324",
            "endpoint_url",
            "http://127.0.0.1:9324",
        ),
    ],
)
def test_environment_variable_wins_over_ini(
    variable: str, key: str, value: str, attribute: str, expected: Any
) -> None:
    """Each documented environment variable overrides its ini key."""
    settings = parse({variable: value})
    assert getattr(settings, attribute) == expected


def test_aws_default_region_is_a_fallback() -> None:
    """AWS_DEFAULT_REGION is read when neither the ini nor AWS_REGION names a region."""
    settings = parse_settings({"elasticjobs.secret": SECRET}, {"AWS_DEFAULT_REGION": "us-west-2"})
    assert settings.aws_region == "us-west-2"


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("secret", "", "elasticjobs.secret (or the ELASTICJOBS_SECRET environment variable)"),
        ("secret", "short", "at least 32 characters"),
        ("secret", f"{'a' * 40} tooshort", "secret #2 is 8 characters long"),
        ("process_jobs", "maybe", "use one of: true, false"),
        ("aws_region", "", "name the AWS region"),
        ("aws_region", "Europe", "not an AWS region name"),
        ("endpoint_url", "localhost:9324", "not an http(s) URL"),
        ("queue_prefix", "bad prefix!", "not a valid queue prefix"),
        ("default_queue", "with space", "not a valid queue name"),
        ("periodic_tasks_route", "periodic", "not a URL path"),
        ("trusted_networks", "127.0.0.0/8 nonsense", "'nonsense' is not an IP network"),
        ("trusted_networks", "127.0.0.0/0", "host bits set, which would silently mean 0.0.0.0/0"),
        ("trusted_networks", "127.0.0.1/8", "write the network itself, e.g. 127.0.0.0/8"),
        ("trusted_networks", "0.0.0.0/0", "trusts every address"),
        ("trusted_networks", "::/0", "trusts every address"),
        ("periodic_tasks_route", "/", "every job would be taken for a periodic task"),
        ("periodic_tasks_route", "/tasks?x=1", "not a URL path"),
        ("remote_addr_is_client", "sometimes", "not a boolean"),
        ("message_ttl", "10", "out of range"),
        ("max_message_bytes", "lots", "not a whole number"),
        ("max_message_bytes", "2000000", "out of range; give 1024 to 1048576"),
        ("connect_timeout", "-1", "out of range"),
    ],
)
def test_invalid_setting_names_key_and_accepted_values(key: str, value: str, fragment: str) -> None:
    """A wrong value fails with ConfigurationError naming the key and what it accepts."""
    with pytest.raises(ConfigurationError) as raised:
        parse(**{key: value})
    assert f"elasticjobs.{key}" in str(raised.value)
    assert fragment in str(raised.value)


def test_missing_region_is_an_error() -> None:
    """Without any region the app refuses to start, saying where to set one."""
    with pytest.raises(ConfigurationError, match=r"elasticjobs\.aws_region"):
        parse_settings({"elasticjobs.secret": SECRET}, {})


@pytest.mark.parametrize(
    ("typo", "hint"),
    [
        ("proces_jobs", "did you mean elasticjobs.process_jobs?"),
        ("region", "did you mean elasticjobs.aws_region?"),
        ("zzzz", "known settings: elasticjobs.aws_region, "),
    ],
)
def test_unknown_key_logs_one_line_with_the_likely_key(
    typo: str, hint: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A typo in an elasticjobs.* key is a one-line warning naming the key it resembles."""
    with caplog.at_level(logging.WARNING, logger="pyramid_elasticjobs.settings"):
        parse(**{typo: "true"})
    [record] = caplog.records
    message = record.getMessage()
    assert message.startswith(f"unknown setting elasticjobs.{typo} is ignored; ")
    assert hint in message
    assert "\n" not in message


def test_daemon_keys_do_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    """elasticjobs.sqsd.* belongs to the local daemon, which validates it itself."""
    with caplog.at_level(logging.WARNING, logger="pyramid_elasticjobs.settings"):
        parse(**{"sqsd.http_connections": "10"})
    assert caplog.records == []


def test_periodic_route_may_not_be_the_daemons_job_path() -> None:
    """The daemon posts jobs to elasticjobs.sqsd.http_path; the periodic route must differ."""
    with pytest.raises(ConfigurationError, match="also the path the daemon posts jobs to"):
        parse(periodic_tasks_route="/jobs", **{"sqsd.http_path": "/jobs"})


def test_secrets_never_appear_in_reprs() -> None:
    """The settings and the runtime built on them print no secret (tracebacks capture reprs)."""
    secret, old_secret = "n" * 40, "o" * 40
    settings = parse(secret=f"{secret} {old_secret}")
    runtime = Runtime.create(settings, JobRegistry())
    for text in (repr(settings), str(settings), repr(runtime), repr(runtime.signer)):
        assert secret not in text
        assert old_secret not in text


def test_values_are_typed() -> None:
    """Numbers, booleans, networks and FIFO queue names are parsed into their types."""
    settings = parse(
        max_message_bytes="1048576",
        enqueue_after_commit="off",
        trusted_networks="127.0.0.0/8, 172.17.0.0/16",
        default_queue="orders.fifo",
        connect_timeout="2.5",
    )
    assert settings.max_message_bytes == 1_048_576
    assert settings.enqueue_after_commit is False
    assert ipaddress.ip_network("172.17.0.0/16") in settings.trusted_networks
    assert settings.default_queue == "orders.fifo"
    assert settings.connect_timeout == 2.5
    assert settings.sqs_queue_name("images") == "images"
