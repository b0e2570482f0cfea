"""Job contracts: the ``@job`` decorator, ``config.add_job`` and the registry of jobs."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import marshmallow
import venusian
from pyramid.path import DottedNameResolver

from .contracts import contract_problems
from .exceptions import ConfigurationError, InvalidJobArguments, UnknownJobError

if TYPE_CHECKING:
    from pyramid.config import Configurator

    from .context import JobContext

JobFunction = Callable[..., Any]
F = TypeVar("F", bound=JobFunction)

#: Keyword arguments of ``enqueue`` itself; a schema field with one of these names could not be
#: passed, so declaring one is an error.
RESERVED_ARGUMENTS = frozenset({"delay", "run_at", "group_id", "dedup_id", "immediate"})

JOBS_KEY = "elasticjobs.jobs"

#: What stands in for the value of a field a job marks sensitive (``@job(redact=...)``).
REDACTED = "[redacted]"

_JOB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$")


class _NoArguments(marshmallow.Schema):
    """The contract of a job declared without a schema: it takes no arguments."""


@dataclass(frozen=True, slots=True)
class JobDefinition:
    """A registered job: its function, its argument contract and where it runs."""

    name: str
    func: JobFunction
    schema: marshmallow.Schema
    queue: str | None = None
    discard_on: tuple[type[BaseException], ...] = ()
    periodic: bool = False
    required_fields: frozenset[str] = field(default=frozenset())
    redact: frozenset[str] = field(default=frozenset())
    unique: bool = False

    def load(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Validate and deserialize arguments; :class:`InvalidJobArguments` lists each problem."""
        try:
            loaded: dict[str, Any] = self.schema.load(arguments)
        except marshmallow.ValidationError as error:
            messages = error.messages
            raise InvalidJobArguments(
                self.name, messages if isinstance(messages, dict) else {"_schema": messages}
            ) from None
        return loaded

    def dump(self, loaded: Mapping[str, Any]) -> dict[str, Any]:
        """Serialize loaded arguments to JSON-ready values (what goes in the envelope)."""
        dumped: dict[str, Any] = self.schema.dump(loaded)
        return dumped

    def redacted(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """``arguments`` with the values of sensitive fields replaced, for logs and records."""
        return {
            name: REDACTED if name in self.redact else value for name, value in arguments.items()
        }

    def __call__(self, ctx: JobContext, arguments: Mapping[str, Any]) -> Any:
        return self.func(ctx, **arguments)


def make_definition(
    func: JobFunction,
    *,
    schema: type[marshmallow.Schema] | marshmallow.Schema | None = None,
    name: str | None = None,
    queue: str | None = None,
    discard_on: Iterable[type[BaseException]] = (),
    periodic: bool = False,
    redact: Iterable[str] = (),
    unique: bool = False,
) -> JobDefinition:
    """Check a job declaration and build its definition; raise ``ConfigurationError`` if wrong."""
    job_name = str(name or getattr(func, "__name__", ""))
    where = f"job {job_name!r} ({getattr(func, '__module__', '?')})"
    if not callable(func):
        raise ConfigurationError(f"{where}: {func!r} is not callable")
    if not _JOB_NAME.fullmatch(job_name):
        raise ConfigurationError(
            f"{where}: invalid job name; use letters, digits, '_', '.', ':' or '-' "
            "(at most 128 characters, not starting with a digit)"
        )
    instance = _schema_instance(where, schema)
    problems = contract_problems(instance)
    if problems:
        raise ConfigurationError(
            f"{where}: its schema cannot carry arguments through SQS: " + "; ".join(problems)
        )
    sensitive = _redacted_fields(where, instance, redact)
    reserved = RESERVED_ARGUMENTS.intersection(instance.fields)
    if reserved:
        raise ConfigurationError(
            f"{where}: schema field(s) {', '.join(sorted(reserved))} clash with enqueue() "
            f"options ({', '.join(sorted(RESERVED_ARGUMENTS))}); rename them"
        )
    required = frozenset(
        name
        for name, schema_field in instance.fields.items()
        if schema_field.required and not schema_field.dump_only
    )
    if periodic and required:
        raise ConfigurationError(
            f"{where}: a periodic job runs with its schema's defaults, but fields "
            f"{', '.join(sorted(required))} are required; give them load_default values"
        )
    discard = tuple(discard_on)
    for exception in discard:
        if not (isinstance(exception, type) and issubclass(exception, BaseException)):
            raise ConfigurationError(f"{where}: discard_on must list exception classes")
    return JobDefinition(
        job_name, func, instance, queue, discard, periodic, required, sensitive, bool(unique)
    )


def _redacted_fields(
    where: str, schema: marshmallow.Schema, redact: Iterable[str]
) -> frozenset[str]:
    if isinstance(redact, str):  # redact="password" would redact p, a, s...
        raise ConfigurationError(
            f"{where}: redact takes a tuple of field names, e.g. ({redact!r},)"
        )
    names = frozenset(redact)
    unknown = names - set(schema.fields)
    if unknown:
        raise ConfigurationError(
            f"{where}: redact names {', '.join(sorted(unknown))}, which the schema does not "
            f"declare (its fields: {', '.join(sorted(schema.fields)) or 'none'})"
        )
    return names


def _schema_instance(
    where: str, schema: type[marshmallow.Schema] | marshmallow.Schema | None
) -> marshmallow.Schema:
    if schema is None:
        return _NoArguments()
    if isinstance(schema, marshmallow.Schema):
        return schema
    if isinstance(schema, type) and issubclass(schema, marshmallow.Schema):
        return schema()
    raise ConfigurationError(f"{where}: schema must be a marshmallow Schema class or instance")


class JobRegistry:
    """Jobs by name, and by function so ``enqueue(resize_image, ...)`` works."""

    def __init__(self) -> None:
        self._by_name: dict[str, JobDefinition] = {}
        self._by_func: dict[JobFunction, JobDefinition] = {}

    def add(self, definition: JobDefinition) -> None:
        self._by_name[definition.name] = definition
        self._by_func[definition.func] = definition

    def get(self, name: str) -> JobDefinition:
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownJobError(name, list(self._by_name)) from None

    def resolve(self, job: str | JobFunction | JobDefinition) -> JobDefinition:
        """Find a job given its name, its function or its definition."""
        if isinstance(job, JobDefinition):
            return job
        if isinstance(job, str):
            return self.get(job)
        try:
            return self._by_func[job]
        except (KeyError, TypeError):
            name = getattr(job, "__name__", repr(job))
            raise UnknownJobError(name, list(self._by_name)) from None

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def __iter__(self) -> Any:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)


def add_job(
    config: Configurator,
    func: JobFunction | str,
    *,
    schema: type[marshmallow.Schema] | marshmallow.Schema | str | None = None,
    name: str | None = None,
    queue: str | None = None,
    discard_on: Iterable[type[BaseException]] = (),
    periodic: bool = False,
    redact: Iterable[str] = (),
    unique: bool = False,
) -> None:
    """The ``config.add_job`` directive: register ``func`` as a job.

    Declarations are checked now, so mistakes point at the line that made them;
    registration is deferred, so two jobs with one name conflict at commit.
    """
    resolver = DottedNameResolver(config.package)
    function = resolver.maybe_resolve(func)
    definition = make_definition(
        function,
        schema=resolver.maybe_resolve(schema),
        name=name,
        queue=queue,
        discard_on=discard_on,
        periodic=periodic,
        redact=redact,
        unique=unique,
    )

    def register() -> None:
        config.registry[JOBS_KEY].add(definition)

    config.action(("elasticjobs.job", definition.name), register)


def job(
    *,
    schema: type[marshmallow.Schema] | marshmallow.Schema | None = None,
    name: str | None = None,
    queue: str | None = None,
    discard_on: Iterable[type[BaseException]] = (),
    periodic: bool = False,
    redact: Iterable[str] = (),
    unique: bool = False,
) -> Callable[[F], F]:
    """Declare a job, registered when ``config.scan()`` finds it (like ``@view_config``).

    ``periodic=True`` marks a job meant for ``cron.yaml``; only such jobs run from
    periodic-task requests (which are unsigned). Their schema may not have required
    fields, since the daemon's periodic requests carry no arguments. ``redact`` names
    fields whose values never appear in logs or records (passwords, tokens); the job
    itself receives them. ``unique=True`` runs a job id at most once to success: a
    redelivery after success is answered 200 without running (needs the audit log).
    """
    options = {
        "schema": schema,
        "name": name,
        "queue": queue,
        "discard_on": tuple(discard_on),
        "periodic": periodic,
        "redact": tuple(redact) if not isinstance(redact, str) else redact,
        "unique": unique,
    }

    def decorate(func: F) -> F:
        def callback(context: Any, func_name: str, wrapped: F) -> None:
            config = context.config.with_package(info.module)
            config.add_job(wrapped, **options)

        info = venusian.attach(func, callback, category="pyramid")
        return func

    return decorate
