"""Checks that need no AWS access: settings, serving, jobs, cron.yaml, dashboard, audit log.

They read the ``[app:main]`` settings as written (plus the environment variables that
override them), so that a setting that would stop the application from starting is
reported with the others instead of hiding them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pyramid_elasticjobs import defaults
from pyramid_elasticjobs import settings as core
from pyramid_elasticjobs.exceptions import ConfigurationError, InvalidJobArguments

from .findings import Finding, fail, ok, warn

if TYPE_CHECKING:
    from pyramid.registry import Registry

    from pyramid_elasticjobs.runtime import Runtime

Settings = Mapping[str, Any]

#: Words that mark a secret as a placeholder copied from an example.
_PLACEHOLDER_WORDS = ("dev-only", "not-secret", "changeme", "change-me", "example", "xxxxxxxx")
#: The dashboard's keys (issue 8) and the values they accept.
DASHBOARD_PREFIX = "elasticjobs.dashboard."
DASHBOARD_INCLUDE = "pyramid_elasticjobs.dashboard"
#: Pyramid's NO_PERMISSION_REQUIRED: a dashboard permission of this opens it to everyone.
_NO_PERMISSION = "__no_permission_required__"
#: An IPv4 network wider than this (a /15 and up) is more than a Docker bridge needs.
_WIDEST_PRIVATE_PREFIX = 16


def raw_value(settings: Settings, environ: Mapping[str, str], key: str) -> Any:
    """An ``elasticjobs.*`` value as the app will read it: its environment variable wins."""
    variable = core.ENVIRONMENT_OVERRIDES.get(key)
    if variable and environ.get(variable):
        return environ[variable]
    if key == "aws_region" and not settings.get(core.PREFIX + key):
        return environ.get("AWS_DEFAULT_REGION") or None
    return settings.get(core.PREFIX + key)


def is_development(settings: Settings, environ: Mapping[str, str]) -> bool:
    """True when SQS is a local one (a loopback endpoint_url): a laptop, not a deployment."""
    host = urlsplit(str(raw_value(settings, environ, "endpoint_url") or "")).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _checked(check: str, parse: Callable[[], Any]) -> tuple[Any, list[Finding]]:
    """Run one of the app's own validators: its message names the key and the fix."""
    try:
        return parse(), []
    except ConfigurationError as error:
        return None, [fail(check, str(error))]


# -- settings ---------------------------------------------------------------------------


def settings_findings(settings: Settings, environ: Mapping[str, str]) -> list[Finding]:
    """Secret, processing flag, region, endpoint, trusted networks, periodic route, the rest."""
    development = is_development(settings, environ)

    def value(key: str) -> Any:
        return raw_value(settings, environ, key)

    findings: list[Finding] = []
    findings += _secret_findings(settings, environ, development)
    findings += _processing_findings(settings, environ, development)
    region, problems = _checked(
        "region", lambda: core.parse_region("aws_region", value("aws_region"))
    )
    findings += problems or [ok("region", f"{region}")]
    endpoint, problems = _checked(
        "endpoint", lambda: core.parse_endpoint_url("endpoint_url", value("endpoint_url"))
    )
    if problems:
        findings += problems
    elif endpoint is None:
        findings.append(ok("endpoint", f"AWS SQS ({region or 'region not set'})"))
    elif urlsplit(endpoint).port == 0:
        findings.append(
            ok(
                "endpoint",
                f"{endpoint}: the embedded SQS of `elasticjobs dev` (a free port); other "
                "commands (enqueue, doctor --aws) need a running SQS's URL",
            )
        )
    else:
        findings.append(ok("endpoint", f"{endpoint} (a local or custom SQS)"))
    findings += _network_findings(value("trusted_networks"))
    route, problems = _checked(
        "periodic route",
        lambda: core.parse_route(
            "periodic_tasks_route", value("periodic_tasks_route"), defaults.PERIODIC_TASKS_ROUTE
        ),
    )
    findings += problems
    job_path = str(settings.get("elasticjobs.sqsd.http_path") or "/").strip()
    if route in ("/", job_path):
        findings.append(
            fail(
                "periodic route",
                f"elasticjobs.periodic_tasks_route = {route!r} is also the path the daemon "
                f"posts jobs to ({job_path!r}), so every job would be taken for a periodic "
                f"task; use a path of its own, such as {defaults.PERIODIC_TASKS_ROUTE}",
            )
        )
    elif route is not None:
        findings.append(ok("periodic route", f"{route} (the url of cron.yaml entries)"))
    findings += _remaining_findings(settings, environ)
    return findings


def _secret_findings(
    settings: Settings, environ: Mapping[str, str], development: bool
) -> list[Finding]:
    value = raw_value(settings, environ, "secret")
    secrets, problems = _checked("secret", lambda: core.parse_secrets("secret", value))
    if problems:
        return problems
    findings: list[Finding] = []
    repeated = sorted({s for s in secrets if secrets.count(s) > 1}, key=secrets.index)
    if repeated:
        positions = [
            ", ".join(f"#{i}" for i, s in enumerate(secrets, start=1) if s == secret)
            for secret in repeated
        ]
        findings.append(
            warn(
                "secret",
                f"the rotation list repeats a secret (positions {'; '.join(positions)}); "
                "remove the duplicate: the list is the new secret first, then the old ones",
            )
        )
    if len(secrets) > 3:
        findings.append(
            warn(
                "secret",
                f"{len(secrets)} secrets verify signatures; once no message signed with an "
                "old one can be in a queue (the retention period), remove it",
            )
        )
    for position, secret in enumerate(secrets, start=1):
        weak = len(set(secret)) < 10
        placeholder = any(word in secret.lower() for word in _PLACEHOLDER_WORDS)
        if (weak or placeholder) and not development:
            findings.append(
                fail(
                    "secret",
                    f"secret #{position} looks like a placeholder or has few distinct "
                    "characters; generate one with `python -c 'import secrets; "
                    "print(secrets.token_urlsafe(48))'` and set it on web and worker",
                )
            )
    from_ini = not environ.get(core.ENVIRONMENT_OVERRIDES["secret"])
    if from_ini and not development:
        findings.append(
            warn(
                "secret",
                "the secret is written in the ini file; set ELASTICJOBS_SECRET from a secret "
                "store (Secrets Manager, the environment's properties) and leave it out of files",
            )
        )
    if not findings:
        source = "ini file" if from_ini else "ELASTICJOBS_SECRET"
        rotation = f", {len(secrets) - 1} old one(s) still verify" if len(secrets) > 1 else ""
        findings.append(ok("secret", f"set ({source}), long enough{rotation}"))
    return findings


def _processing_findings(
    settings: Settings, environ: Mapping[str, str], development: bool
) -> list[Finding]:
    value = raw_value(settings, environ, "process_jobs")
    process, problems = _checked(
        "processing", lambda: core.parse_bool("process_jobs", value, default=False)
    )
    if problems:
        return problems
    if not process:
        return [
            ok(
                "processing",
                "off: this process enqueues only (a web environment); on the worker set "
                "PROCESS_ELASTIC_JOBS=true, else every job is answered 404 and dead-lettered",
            )
        ]
    if settings.get("elasticjobs.process_jobs") and not development:
        return [
            warn(
                "processing",
                "on, from the ini file: every environment using this file runs jobs; set "
                "PROCESS_ELASTIC_JOBS=true on the worker environment only",
            )
        ]
    return [ok("processing", "on: this process runs the jobs the daemon delivers (a worker)")]


def _network_findings(value: Any) -> list[Finding]:
    networks, problems = _checked(
        "trusted networks", lambda: core.parse_networks("trusted_networks", value)
    )
    if problems:
        return problems
    findings: list[Finding] = []
    for network in networks:
        if network.is_loopback:
            continue
        if not network.is_private:
            findings.append(
                fail(
                    "trusted networks",
                    f"{network} holds public addresses, whose requests could start jobs and "
                    "periodic tasks; list only loopback and the Docker bridge (172.17.0.0/16)",
                )
            )
        elif network.version == 4 and network.prefixlen < _WIDEST_PRIVATE_PREFIX:
            findings.append(
                warn(
                    "trusted networks",
                    f"{network} is wider than a Docker bridge (a /16): every host of your "
                    "VPC in it could start periodic tasks; narrow it to the daemon's network",
                )
            )
    return findings or [ok("trusted networks", " ".join(str(network) for network in networks))]


def _remaining_findings(settings: Settings, environ: Mapping[str, str]) -> list[Finding]:
    """Every other key through the app's own parser; unknown keys as warnings."""
    prefix = core.PREFIX
    raw = {key[len(prefix) :]: value for key, value in settings.items() if key.startswith(prefix)}
    findings = [
        warn("unknown setting", core.unknown_key_message(key))
        for key in sorted(core.unknown_keys(raw))
    ]
    try:
        core.parse_settings(settings, environ)
    except ConfigurationError as error:
        # The checks above report the keys they know; report only another key's error.
        message = str(error)
        handled = (
            "secret",
            "aws_region",
            "endpoint_url",
            "trusted_networks",
            "periodic_tasks_route",
            "process_jobs",
        )
        if not any(f"{prefix}{key}" in message for key in handled):
            findings.append(fail("settings", message))
    return findings


# -- how the app is served (docs/deployment.md section 6) --------------------------------


def serving_findings(
    settings: Settings, environ: Mapping[str, str], server: Settings | None
) -> list[Finding]:
    """Does the source check see the daemon's real address, under this WSGI server?"""
    check = "serving"
    try:
        trusting = core.parse_bool(
            "remote_addr_is_client",
            raw_value(settings, environ, "remote_addr_is_client"),
            default=False,
        )
    except ConfigurationError as error:
        return [fail(check, str(error))]
    section6 = "see docs/deployment.md, section 6"
    if server is None:
        return [
            ok(
                check,
                "no [server:main]: served by a command of its own (gunicorn passes forwarding "
                f"headers on: nothing to set; under waitress {section6})",
            )
        ]
    use = str(server.get("use", ""))
    if "waitress" not in use:
        if "gunicorn" in use:
            return [ok(check, "gunicorn passes forwarding headers on: nothing to set")]
        return [
            warn(
                check,
                f"[server:main] uses {use!r}, which doctor does not know; if it deletes "
                "X-Forwarded-For from untrusted proxies as waitress does, read "
                f"{section6}",
            )
        ]
    trusted_proxy = str(server.get("trusted_proxy", "")).strip()
    if trusted_proxy:
        findings = []
        if not str(server.get("trusted_proxy_headers", "")).strip():
            findings.append(
                warn(
                    check,
                    f"waitress trusted_proxy = {trusted_proxy} without trusted_proxy_headers: "
                    "name the header your proxy sends (e.g. x-forwarded-for)",
                )
            )
        if not trusting:
            findings.append(
                warn(
                    check,
                    "waitress rewrites REMOTE_ADDR from its trusted_proxy's header, so set "
                    "elasticjobs.remote_addr_is_client = true, else a daemon request left without "
                    f"forwarding headers is refused (403 source_unknown); {section6}",
                )
            )
        return findings or [
            ok(check, f"waitress with trusted_proxy = {trusted_proxy} and remote_addr_is_client")
        ]
    if trusting:
        if is_development(settings, environ):
            return [
                ok(check, "waitress, the daemon connects straight to it (remote_addr_is_client)")
            ]
        return [
            warn(
                check,
                "waitress without trusted_proxy, and remote_addr_is_client = true: right only "
                "if nothing proxies to the app (a container without nginx); behind a proxy "
                "that sends only X-Forwarded-For, internet requests would pass as local: set "
                f"waitress's trusted_proxy, or remove remote_addr_is_client; {section6}",
            )
        ]
    if is_development(settings, environ):
        return [
            fail(
                check,
                "waitress with the daemon connecting straight to it (a local SQS): every job "
                "is refused with 403 source_unknown; set elasticjobs.remote_addr_is_client = "
                "true",
            )
        ]
    return [
        ok(
            check,
            "waitress behind a proxy that sends X-Real-IP (Elastic Beanstalk's nginx does); if "
            "the daemon connects straight to waitress, set elasticjobs.remote_addr_is_client = "
            f"true; {section6}",
        )
    ]


# -- jobs and cron.yaml ------------------------------------------------------------------


def periodic_job_findings(runtime: Runtime) -> list[Finding]:
    """Every periodic job loads, and round-trips, its schema's defaults (what cron runs)."""
    findings = []
    periodic = [definition for definition in runtime.jobs if definition.periodic]
    for definition in sorted(periodic, key=lambda item: item.name):
        check = f"periodic job {definition.name}"
        try:
            loaded = definition.load({})
            definition.load(definition.dump(loaded))
        except InvalidJobArguments as error:
            findings.append(
                fail(
                    check,
                    f"its schema's defaults do not load ({error}); give every field a "
                    "load_default that passes its validators",
                )
            )
        except Exception as error:  # a default factory or validator that raises
            findings.append(
                fail(check, f"loading its defaults raised {type(error).__name__}: {error}")
            )
        else:
            findings.append(ok(check, "loads its defaults"))
    if not periodic:
        findings.append(ok("periodic jobs", "none declared"))
    return findings


def cron_path(config_uri: str, settings: Settings) -> tuple[Path, str]:
    """The cron.yaml that drives this app: elasticjobs.sqsd.cron_path, else beside the ini."""
    configured = str(settings.get("elasticjobs.sqsd.cron_path") or "").strip()
    if configured:
        return Path(configured), "elasticjobs.sqsd.cron_path"
    return Path(config_uri.partition("#")[0]).resolve().parent / "cron.yaml", "next to the ini"


def cron_findings(path: Path, source: str, registry: Registry) -> list[Finding]:
    """cron.yaml parses, and each entry names a periodic job and uses the periodic route."""
    from pyramid_elasticjobs.runtime import get_runtime

    check = "cron.yaml"
    if not path.exists():
        return [ok(check, f"none ({path}, {source}): no periodic tasks")]
    # Here, not above: reading cron.yaml needs PyYAML and croniter (the 'local' extra).
    from pyramid_elasticjobs.daemon.cron_check import check_cron, read_cron

    try:
        tasks = read_cron(path, source)
    except ConfigurationError as error:
        return [fail(check, str(error))]
    problems = check_cron(tasks, registry, str(path))
    findings = [fail(check, problem) for problem in problems]
    runtime = get_runtime(registry)
    if tasks and runtime.settings.default_queue.endswith(".fifo"):
        findings.append(
            fail(
                check,
                f"the default queue {runtime.settings.default_queue!r} is FIFO, and Elastic "
                "Beanstalk runs no periodic tasks on FIFO worker queues; use a standard queue",
            )
        )
    scheduled = {task.name for task in tasks}
    for definition in sorted(runtime.jobs, key=lambda item: item.name):
        if definition.periodic and definition.name not in scheduled:
            findings.append(
                warn(
                    check,
                    f"job {definition.name!r} is declared periodic but no entry of {path} "
                    "runs it; add one, or drop periodic=True",
                )
            )
    return findings or [ok(check, f"{len(tasks)} task(s) in {path}, each a periodic job")]


# -- dashboard (issue 8's settings; the dashboard reads and enforces them itself) ---------


def dashboard_findings(
    settings: Settings, environ: Mapping[str, str], registry: Registry | None
) -> list[Finding]:
    check = "dashboard"
    keys = {
        key[len(DASHBOARD_PREFIX) :]: v
        for key, v in settings.items()
        if key.startswith(DASHBOARD_PREFIX)
    }
    included = DASHBOARD_INCLUDE in str(settings.get("pyramid.includes", "")).split()
    if not keys and not included:
        return [ok(check, "not configured (no elasticjobs.dashboard.* keys): nothing to check")]
    findings: list[Finding] = []
    anonymous, problems = _checked(
        check,
        lambda: core.parse_bool("dashboard.allow_anonymous", keys.get("allow_anonymous"), False),
    )
    read_only, more = _checked(
        check, lambda: core.parse_bool("dashboard.read_only", keys.get("read_only"), False)
    )
    findings += problems + more
    path = str(keys.get("path") or "/elasticjobs").strip()
    if not path.startswith("/") or path == "/":
        findings.append(
            fail(
                check,
                f"elasticjobs.dashboard.path = {path!r} must be a path of its own such as "
                "/elasticjobs (not / and starting with /)",
            )
        )
    view = str(keys.get("view_permission") or "elasticjobs.view").strip()
    manage = str(keys.get("manage_permission") or "elasticjobs.manage").strip()
    for key, permission in (("view_permission", view), ("manage_permission", manage)):
        if permission == _NO_PERMISSION:
            findings.append(
                fail(
                    check,
                    f"elasticjobs.dashboard.{key} is NO_PERMISSION_REQUIRED: anyone can open it; "
                    "name a permission your security policy grants to operators",
                )
            )
    if view == manage and not read_only:
        findings.append(
            warn(
                check,
                f"view and manage use one permission ({view!r}): whoever can look can also "
                "redrive and purge; give elasticjobs.dashboard.manage_permission its own",
            )
        )
    if anonymous:
        if is_development(settings, environ):
            findings.append(ok(check, "anonymous access, on a local SQS (development only)"))
        elif read_only:
            findings.append(
                warn(
                    check,
                    "allow_anonymous = true outside development: anyone who reaches the app "
                    "sees job arguments and errors; remove it and add a security policy",
                )
            )
        else:
            findings.append(
                fail(
                    check,
                    "allow_anonymous = true outside development: anyone who reaches the app can "
                    "redrive, delete and purge dead letters; remove it and add a security policy",
                )
            )
    elif registry is not None and not _has_security_policy(registry):
        findings.append(
            fail(
                check,
                "the app has no security policy, so the dashboard cannot check permissions "
                "(it refuses to start); config.set_security_policy(...) with one that grants "
                f"{view!r} and {manage!r}",
            )
        )
    return findings or [ok(check, f"at {path}, permissions {view!r} / {manage!r}")]


def _has_security_policy(registry: Registry) -> bool:
    from pyramid.interfaces import IAuthenticationPolicy, ISecurityPolicy

    return (
        registry.queryUtility(ISecurityPolicy) is not None
        or registry.queryUtility(IAuthenticationPolicy) is not None
    )


# -- audit log ---------------------------------------------------------------------------


def audit_findings(settings: Settings, environ: Mapping[str, str]) -> list[Finding]:
    """The audit database answers and is at the head revision this version ships."""
    check = "audit log"
    if not core.audit_url(settings, environ):
        return [ok(check, "not configured (no elasticjobs.audit.url)")]
    try:
        import sqlalchemy

        from pyramid_elasticjobs.audit.engine import create_audit_engine
        from pyramid_elasticjobs.audit.migrate import current_revision, head_revision
        from pyramid_elasticjobs.audit.settings import parse_audit_settings
    except ModuleNotFoundError as error:
        return [
            fail(
                check,
                f"elasticjobs.audit.url is set but {error.name!r} is missing; install "
                "pip install 'pyramid_elasticjobs[audit]'",
            )
        ]
    audit, problems = _checked(check, lambda: parse_audit_settings(settings, environ))
    if problems:
        return problems
    engine = create_audit_engine(audit)
    try:
        head = head_revision(engine)
        # Connecting would create a missing SQLite file: doctor changes nothing.
        current = None if _missing_sqlite_file(engine) else current_revision(engine)
    except sqlalchemy.exc.SQLAlchemyError as error:
        reason = str(error).splitlines()[0]
        return [
            fail(
                check,
                f"cannot reach {audit.safe_url}: {reason}; check elasticjobs.audit.url (or "
                "ELASTICJOBS_AUDIT_URL), the database server and its credentials",
            )
        ]
    finally:
        engine.dispose()
    if current == head:
        return [ok(check, f"{audit.safe_url} at revision {head} (head)")]
    where = "has no tables yet" if current is None else f"is at revision {current}"
    if audit.auto_upgrade:
        return [
            warn(
                check,
                f"{audit.safe_url} {where}, head is {head}: upgraded when the app starts "
                "(elasticjobs.audit.auto_upgrade); run `elasticjobs db upgrade INI` before "
                "deploying to keep that out of start-up",
            )
        ]
    return [
        fail(
            check,
            f"{audit.safe_url} {where}, head is {head}: every record would fail; run "
            "`elasticjobs db upgrade INI`",
        )
    ]


def _missing_sqlite_file(engine: Any) -> bool:
    url = engine.url
    database = url.database
    return bool(
        url.get_backend_name() == "sqlite"
        and database not in (None, "", ":memory:")
        and not str(database).startswith("file:")
        and not Path(database).exists()
    )
